// Package market simulates a Speed market in virtual time, to choose and check the
// parameters of what a paid slot buys (docs/speed-market.md): providers with upload
// capacities run the real rechoke (choke.Rank, auction and optimistic rotation) and share
// their upload by weight as the send scheduler does (peer/sendsched.go); requesters with
// budgets, download capacities and spending rates bid with the real auto-bid
// (bidext.AutoBid) and are billed with the real meter (bidext.Meter). It is deterministic:
// the same Config gives the same Result.
//
// The model is fluid: every Step, each provider's upload is split among the requesters it
// unchokes in proportion to their weights (an auction winner weighs PaidWeight, any other
// slot 1), a requester's download capacity caps what it takes from all providers, and
// capacity one requester cannot take goes to the others (water-filling). Requesters get
// data only from providers (they do not trade with each other), and every provider has
// every piece.
package market

import (
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/choke"
)

// Provider is one seeder.
type Provider struct {
	// Upload is its upload capacity in bytes per second.
	Upload float64
	// Reserve is its reserve price in bidext units (base units per GiB).
	Reserve uint64
}

// Requester is one downloader.
type Requester struct {
	// Down is its download capacity in bytes per second.
	Down float64
	// Size is what it wants, in bytes; 0 means it never completes (a stream, for the
	// best-response experiments).
	Size int64
	// Budget is its balance in base units.
	Budget uint64
	// Speed: it speaks Speed. A requester without it is a legacy peer: it never bids.
	Speed bool
	// SpendingRate (parts per million) drives the auto-bid, bidext.AutoBid(balance, rate,
	// remaining). Bid, when nonzero, replaces the auto-bid with a fixed bid.
	SpendingRate uint32
	Bid          uint64
}

// Config is one market.
type Config struct {
	Providers  []Provider
	Requesters []Requester
	// RegularSlots and OptimisticSlots are every provider's slot layout; the regular
	// slots are auctioned.
	RegularSlots, OptimisticSlots int
	// PaidWeight is the send weight of an auction winner (a free slot weighs 1).
	PaidWeight float64
	// Step is the fluid model's time step, Rechoke the rechoke interval (a multiple of
	// Step), Horizon the end of the run.
	Step, Rechoke, Horizon time.Duration
}

// Result is what a run produced, per requester and per provider.
type Result struct {
	// Finish is when each requester completed; 0 if it did not within the horizon.
	Finish []time.Duration
	// Received is the bytes each requester received, Paid what it paid in base units.
	Received []float64
	Paid     []uint64
	// FirstBid is each requester's bid at the first rechoke (0: none).
	FirstBid []uint64
	// Revenue is what each provider earned in base units.
	Revenue []uint64
}

// link is one provider-requester pair's state between rechokes.
type link struct {
	choked       bool
	paying       bool
	price        uint64
	chokedAt     time.Duration
	sentInterval float64 // bytes sent since the last rechoke, for the rate rule
	rate         float64 // bytes per second over the last interval
	meter        bidext.Meter
	billed       float64 // bytes billed to the meter so far (whole bytes of paid data)
	paidBytes    float64 // bytes sent under a price, not yet billed
}

// Run plays the market until the horizon or until every requester with a Size finished.
func Run(cfg Config) Result {
	np, nr := len(cfg.Providers), len(cfg.Requesters)
	res := Result{
		Finish:   make([]time.Duration, nr),
		Received: make([]float64, nr),
		Paid:     make([]uint64, nr),
		FirstBid: make([]uint64, nr),
		Revenue:  make([]uint64, np),
	}
	links := make([][]link, np)
	states := make([]choke.State, np)
	for p := range links {
		links[p] = make([]link, nr)
		for r := range links[p] {
			links[p][r].choked = true
		}
	}
	balance := make([]uint64, nr)
	for r, q := range cfg.Requesters {
		balance[r] = q.Budget
	}
	done := func(r int) bool {
		s := cfg.Requesters[r].Size
		return s > 0 && res.Received[r] >= float64(s)
	}
	bid := func(r int) uint64 {
		q := cfg.Requesters[r]
		if !q.Speed || done(r) {
			return 0
		}
		if q.Bid != 0 {
			if balance[r] == 0 {
				return 0 // cannot pay: withdraws
			}
			return q.Bid
		}
		remaining := uint64(1 << 40) // a stream: spend as if a TiB remained
		if q.Size > 0 {
			remaining = uint64(float64(q.Size) - res.Received[r])
		}
		b, _ := bidext.AutoBid(balance[r], q.SpendingRate, remaining)
		return b
	}
	steps := int(cfg.Horizon / cfg.Step)
	every := int(cfg.Rechoke / cfg.Step)
	offer := make([]float64, nr)
	weight := make([][]float64, np)
	for p := range weight {
		weight[p] = make([]float64, nr)
	}
	peers := make([]choke.Peer, 0, nr)
	for s := 0; s < steps; s++ {
		now := time.Duration(s) * cfg.Step
		if s%every == 0 {
			for p := range cfg.Providers {
				peers = peers[:0]
				for r := range cfg.Requesters {
					l := &links[p][r]
					if s > 0 {
						l.rate = l.sentInterval / cfg.Rechoke.Seconds()
					}
					l.sentInterval = 0
					b := bid(r)
					if s == 0 && p == 0 {
						res.FirstBid[r] = b
					}
					peers = append(peers, choke.Peer{
						Key:        uint64(r),
						Interested: !done(r),
						Choked:     l.choked,
						UploadRate: int64(l.rate),
						Speed:      cfg.Requesters[r].Speed,
						Bid:        b,
						Paying:     l.paying,
						Price:      l.price,
						Waiting:    now - l.chokedAt,
						Connected:  now,
					})
				}
				ccfg := choke.DefaultConfig()
				ccfg.RegularSlots, ccfg.OptimisticSlots = cfg.RegularSlots, cfg.OptimisticSlots
				ccfg.OptimisticInterval = 3 * cfg.Rechoke // mainline's 30 s of 10 s rechokes
				ccfg.Seed, ccfg.Auction, ccfg.Reserve = true, true, cfg.Providers[p].Reserve
				out := choke.Rank(peers, ccfg, &states[p], time.Unix(0, 0).Add(now))
				for r := range cfg.Requesters {
					l := &links[p][r]
					slot, on := out.Find(uint64(r))
					switch {
					case on:
						l.choked = false
						l.paying, l.price = slot.Kind == choke.Auction, slot.Price
						weight[p][r] = 1
						if l.paying {
							weight[p][r] = cfg.PaidWeight
						}
					case !l.choked:
						l.choked, l.chokedAt, l.paying, l.price = true, now, false, 0
						weight[p][r] = 0
					default:
						weight[p][r] = 0
					}
				}
			}
		}
		// Water-filling: providers offer their capacity by weight to requesters not yet
		// capped; a requester takes up to its capacity; what it leaves is offered again.
		left := make([]float64, np)
		capLeft := make([]float64, nr)
		for p, pv := range cfg.Providers {
			left[p] = pv.Upload * cfg.Step.Seconds()
		}
		for r, q := range cfg.Requesters {
			capLeft[r] = q.Down * cfg.Step.Seconds()
			if q.Size > 0 {
				capLeft[r] = min(capLeft[r], float64(q.Size)-res.Received[r])
			}
			if done(r) {
				capLeft[r] = 0
			}
		}
		for range 4 {
			for p := range cfg.Providers {
				var sum float64
				for r := range cfg.Requesters {
					if capLeft[r] > 0 {
						sum += weight[p][r]
					}
				}
				for r := range offer {
					offer[r] = 0
					if sum > 0 && capLeft[r] > 0 {
						offer[r] = left[p] * weight[p][r] / sum
					}
				}
				// Each requester takes what fits; the rounds let unused capacity flow.
				for r := range cfg.Requesters {
					if offer[r] == 0 {
						continue
					}
					take := min(offer[r], capLeft[r])
					capLeft[r] -= take
					left[p] -= take
					res.Received[r] += take
					l := &links[p][r]
					l.sentInterval += take
					if l.paying {
						l.paidBytes += take
					}
				}
			}
		}
		// Billing, per whole byte, through the real meter; a requester pays from its
		// balance and a provider earns what is paid.
		for p := range cfg.Providers {
			for r := range cfg.Requesters {
				l := &links[p][r]
				if l.paidBytes < 1 {
					continue
				}
				n := uint64(l.paidBytes)
				l.paidBytes -= float64(n)
				before := l.meter.Total()
				after, err := l.meter.Add(l.price, n)
				if err != nil {
					continue
				}
				owe := min(after-before, balance[r])
				balance[r] -= owe
				res.Paid[r] += owe
				res.Revenue[p] += owe
			}
		}
		all := true
		for r := range cfg.Requesters {
			if res.Finish[r] == 0 && done(r) {
				res.Finish[r] = now + cfg.Step
			}
			if cfg.Requesters[r].Size > 0 && res.Finish[r] == 0 {
				all = false
			}
			if cfg.Requesters[r].Size == 0 {
				all = false
			}
		}
		if all {
			break
		}
	}
	return res
}
