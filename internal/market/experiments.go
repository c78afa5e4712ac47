package market

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/speedbt/btt/bidext"
)

// The experiments behind docs/speed-market.md. Each is deterministic given its seed.

const (
	btt = bidext.UnitsPerBTT
	mib = 1 << 20
	gib = 1 << 30
)

// RankRow is the mean completion time of the requesters of one bid rank (1 is the highest
// first bid; 0 stands for the legacy peers) over several markets.
type RankRow struct {
	Rank   int
	Mean   time.Duration
	Paid   float64 // mean paid, in BTT
	Trials int
}

// DemoMarket is the demo's market: one seeder of 4 MB/s with 2 auctioned slots and one
// optimistic, five leechers of a 64 MiB file, three with Speed (spending rates 1.0, 0.5,
// 0.2 of a 10 BTT balance) and two legacy peers, none trading with another.
func DemoMarket(weight float64) Config {
	req := func(speed bool, rate uint32) Requester {
		return Requester{Down: 100 * mib, Size: 64 * mib, Budget: 10 * btt, Speed: speed, SpendingRate: rate}
	}
	return Config{
		Providers:       []Provider{{Upload: 4e6, Reserve: btt / 2}},
		Requesters:      []Requester{req(true, bidext.PPM), req(true, bidext.PPM/2), req(true, bidext.PPM/5), req(false, 0), req(false, 0)},
		RegularSlots:    2,
		OptimisticSlots: 1,
		PaidWeight:      weight,
		Step:            time.Second / 10,
		Rechoke:         10 * time.Second,
		Horizon:         time.Hour,
	}
}

// RandomMarket is a larger market: 2-5 providers of 2-10 MB/s with 2 auctioned slots and
// one optimistic, and 10-30 requesters of a 256 MiB file with 2-50 MB/s links, 60 % of
// them with Speed, budgets of 1-20 BTT and spending rates of 0.1-1.0.
func RandomMarket(weight float64, seed uint64) Config {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	cfg := Config{RegularSlots: 2, OptimisticSlots: 1, PaidWeight: weight,
		Step: time.Second / 2, Rechoke: 10 * time.Second, Horizon: 4 * time.Hour}
	for range 2 + rng.IntN(4) {
		cfg.Providers = append(cfg.Providers, Provider{Upload: 2e6 + 8e6*rng.Float64(), Reserve: uint64(rng.IntN(3)) * btt / 10})
	}
	for range 10 + rng.IntN(21) {
		q := Requester{Down: 2e6 + 48e6*rng.Float64(), Size: 256 * mib}
		if rng.Float64() < 0.6 {
			q.Speed = true
			q.Budget = uint64(1+rng.IntN(20)) * btt
			q.SpendingRate = uint32(bidext.PPM / 10 * (1 + rng.IntN(10)))
		}
		cfg.Requesters = append(cfg.Requesters, q)
	}
	return cfg
}

// CompletionByRank runs the markets and averages the completion times by first-bid rank
// (legacy peers and requesters whose first bid was 0 as rank 0). A requester that did not
// finish counts at the horizon.
func CompletionByRank(cfgs []Config) []RankRow {
	sum := map[int]time.Duration{}
	paid := map[int]float64{}
	n := map[int]int{}
	for _, cfg := range cfgs {
		res := Run(cfg)
		order := make([]int, 0, len(cfg.Requesters))
		for r := range cfg.Requesters {
			if res.FirstBid[r] > 0 {
				order = append(order, r)
			}
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case res.FirstBid[a] > res.FirstBid[b]:
				return -1
			case res.FirstBid[a] < res.FirstBid[b]:
				return 1
			}
			return 0
		})
		rank := make([]int, len(cfg.Requesters))
		for i, r := range order {
			rank[r] = i + 1
		}
		for r := range cfg.Requesters {
			f := res.Finish[r]
			if f == 0 {
				f = cfg.Horizon
			}
			sum[rank[r]] += f
			paid[rank[r]] += float64(res.Paid[r]) / btt
			n[rank[r]]++
		}
	}
	var rows []RankRow
	for k := range n {
		rows = append(rows, RankRow{Rank: k, Mean: sum[k] / time.Duration(n[k]), Paid: paid[k] / float64(n[k]), Trials: n[k]})
	}
	slices.SortFunc(rows, func(a, b RankRow) int {
		// Bidders by rank first, the legacy row (0) last.
		ka, kb := a.Rank, b.Rank
		if ka == 0 {
			ka = 1 << 30
		}
		if kb == 0 {
			kb = 1 << 30
		}
		return ka - kb
	})
	return rows
}

// Response is the outcome of the best-response experiment for one layout.
type Response struct {
	Trials int
	// TruthfulBest counts trials where bidding one's value did at least as well as every
	// other strategy tried (within 0.1 % of the value of what was received).
	TruthfulBest int
	// NoBidBetter counts trials where not bidding at all beat bidding one's value.
	NoBidBetter int
	// Revenue is the providers' mean revenue per trial with everybody truthful, in BTT.
	Revenue float64
}

// BestResponse asks, over random markets of streams (nobody completes within the ten
// minutes played), whether a requester's best bid is its value v (base units per GiB it
// gains from data, any data, paid or free), when free slots deliver data too. The others
// bid their own values. Utility is v x GiB received - paid; the strategies tried are no
// bid and bids of v/2, 3v/4, v, 3v/2 and 2v.
func BestResponse(weight float64, optimistic int, trials int, seed uint64) Response {
	rng := rand.New(rand.NewPCG(seed, 0xb1d))
	out := Response{Trials: trials}
	for range trials {
		cfg := Config{RegularSlots: 2, OptimisticSlots: optimistic, PaidWeight: weight,
			Step: time.Second, Rechoke: 10 * time.Second, Horizon: 10 * time.Minute}
		for range 1 + rng.IntN(3) {
			cfg.Providers = append(cfg.Providers, Provider{Upload: 1e6 + 7e6*rng.Float64(), Reserve: uint64(rng.IntN(2)) * btt})
		}
		for range 4 + rng.IntN(7) {
			q := Requester{Down: 1e6 + 19e6*rng.Float64(), Budget: 1 << 62}
			if rng.Float64() < 0.6 {
				q.Speed = true
				q.Bid = uint64(1+rng.IntN(100)) * btt
			}
			cfg.Requesters = append(cfg.Requesters, q)
		}
		v := uint64(1+rng.IntN(100)) * btt
		cfg.Requesters[0].Speed = true
		utility := func(b uint64) float64 {
			c := cfg
			c.Requesters = slices.Clone(cfg.Requesters)
			c.Requesters[0].Bid = b
			c.Requesters[0].SpendingRate = 0 // Bid 0 with no rate: no bid at all
			res := Run(c)
			return float64(v)*res.Received[0]/gib - float64(res.Paid[0])
		}
		truth := utility(v)
		best := true
		for _, b := range []uint64{0, v / 2, 3 * v / 4, 3 * v / 2, 2 * v} {
			u := utility(b)
			if u > truth+0.001*max(truth, 1) {
				best = false
				if b == 0 {
					out.NoBidBetter++
				}
			}
		}
		if best {
			out.TruthfulBest++
		}
		c := cfg
		c.Requesters = slices.Clone(cfg.Requesters)
		c.Requesters[0].Bid = v
		for _, r := range Run(c).Revenue {
			out.Revenue += float64(r) / btt
		}
	}
	out.Revenue /= float64(max(trials, 1))
	return out
}
