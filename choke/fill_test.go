package choke

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func unchoked(p Peer) Peer { p.Choked = false; return p }

func TestFillExamples(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		opt   []uint64 // optimistic holders in the State
		peers []Peer
		want  []Slot
	}{
		{
			name:  "a free regular slot goes to the best bidder at the next bid",
			cfg:   auctionCfg(10),
			opt:   []uint64{9},
			peers: []Peer{unchoked(bidder(1, 500)), unchoked(bidder(2, 400)), unchoked(leech(9, 0)), bidder(3, 70), bidder(4, 90), bidder(5, 40), leech(6, 1000)},
			want:  []Slot{{Key: 4, Kind: Auction, Price: 70}},
		},
		{
			name:  "a lone bidder pays the reserve",
			cfg:   auctionCfg(10),
			opt:   []uint64{9},
			peers: []Peer{unchoked(leech(9, 0)), bidder(3, 70), leech(6, 1000)},
			want:  []Slot{{Key: 3, Kind: Auction, Price: 10}, {Key: 6, Kind: Rate}},
		},
		{
			name:  "without bidders the rate rule fills, the optimistic slot goes to the longest wait",
			cfg:   DefaultConfig(),
			peers: []Peer{unchoked(leech(1, 500)), leech(2, 100), leech(3, 300), with(leech(4, 0), func(p *Peer) { p.Waiting = time.Hour })},
			want:  []Slot{{Key: 3, Kind: Rate}, {Key: 2, Kind: Rate}, {Key: 4, Kind: Optimistic}},
		},
		{
			name:  "no free slot: nothing changes, however high the bid",
			cfg:   Config{RegularSlots: 1, OptimisticSlots: 1, Auction: true},
			opt:   []uint64{2},
			peers: []Peer{unchoked(leech(1, 0)), unchoked(leech(2, 0)), bidder(3, 1<<40)},
			want:  nil,
		},
		{
			name:  "an optimistic holder that left frees its slot only",
			cfg:   Config{RegularSlots: 1, OptimisticSlots: 1},
			opt:   []uint64{7},
			peers: []Peer{unchoked(leech(1, 0)), leech(2, 100), with(leech(3, 0), func(p *Peer) { p.Waiting = time.Hour })},
			want:  []Slot{{Key: 3, Kind: Optimistic}},
		},
		{
			name:  "barred and uninterested peers get nothing",
			cfg:   auctionCfg(10),
			peers: []Peer{with(bidder(1, 900), func(p *Peer) { p.Barred = true }), with(leech(2, 900), func(p *Peer) { p.Interested = false })},
			want:  nil,
		},
		{
			name:  "a snubbed leecher gets no rate slot, only the optimistic one",
			cfg:   Config{RegularSlots: 2, OptimisticSlots: 1},
			peers: []Peer{with(leech(1, 900), func(p *Peer) { p.Snubbed = true })},
			want:  []Slot{{Key: 1, Kind: Optimistic}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := State{optimistic: slices.Clone(tt.opt)}
			in := slices.Clone(tt.peers)
			got := Fill(tt.peers, tt.cfg, &st)
			if !slices.Equal(got, tt.want) {
				t.Errorf("filled %+v, want %+v", got, tt.want)
			}
			if !slices.Equal(in, tt.peers) {
				t.Error("Fill modified its input")
			}
		})
	}
}

// TestRotationFollowsTime: the optimistic slot rotates every OptimisticInterval of the
// caller's clock, however many rechokes happen in between.
func TestRotationFollowsTime(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RegularSlots = 1
	peers := []Peer{leech(1, 100), leech(2, 0), leech(3, 0), leech(4, 0)}
	var st State
	start := time.Unix(1e9, 0)
	rotations := 0
	// Twenty rechokes in the first second (a burst of events used to run one each) and
	// one every 10 s after that, for two minutes.
	var times []time.Time
	for i := range 20 {
		times = append(times, start.Add(time.Duration(i)*50*time.Millisecond))
	}
	for s := 10; s <= 120; s += 10 {
		times = append(times, start.Add(time.Duration(s)*time.Second))
	}
	for _, now := range times {
		res := Rank(peers, cfg, &st, now)
		if res.Rotated {
			rotations++
		}
	}
	// At 0, 30, 60, 90 and 120 s.
	if rotations != 5 {
		t.Errorf("%d rotations in 120 s with a 30 s interval, want 5", rotations)
	}
}

// TestBarredGetsNoSlot: a barred peer gets no slot of any kind from Rank, whatever it bids
// and however long it waited, while it stays interested.
func TestBarredGetsNoSlot(t *testing.T) {
	cfg := auctionCfg(10)
	barred := func(p *Peer) { p.Barred = true; p.Waiting = 100 * time.Hour; p.DownloadRate = 1e9 }
	peers := []Peer{with(bidder(1, 1<<40), barred), bidder(2, 50), leech(3, 10)}
	for _, seed := range []bool{false, true} {
		cfg.Seed = seed
		res := Rank(peers, cfg, nil, time.Time{})
		if _, on := res.Find(1); on {
			t.Errorf("seed=%v: barred peer unchoked: %+v", seed, res.Unchoked)
		}
		if res.ClearingPrice != 10 {
			t.Errorf("seed=%v: the barred bid set the price: %d", seed, res.ClearingPrice)
		}
	}
}

// TestFillProperties drives Rank on a 10 s timer and Fill on random events, the way the
// torrent loop does, over random peer sets, and checks after every call: Fill never
// chokes, re-prices or rotates (the optimistic holders still unchoked stay, the rotation
// time does not move); it never exceeds the slots of either kind; it gives slots only to
// choked peers that want one and are entitled to the kind; it leaves no slot free that a
// choked peer could take; and Rank rotates exactly when the interval has passed.
func TestFillProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for trial := range 300 {
		cfg := Config{
			RegularSlots:       rng.IntN(5),
			OptimisticSlots:    rng.IntN(3),
			Seed:               rng.IntN(2) == 0,
			Auction:            rng.IntN(2) == 0,
			Reserve:            uint64(rng.IntN(50)),
			OptimisticInterval: 30 * time.Second,
			NewPeerAge:         90 * time.Second,
		}
		var peers []Peer
		for k := range uint64(2 + rng.IntN(12)) {
			peers = append(peers, Peer{Key: k, Choked: true, Connected: time.Hour})
		}
		var st State
		now := time.Unix(1e9, 0)
		nextRechoke := now
		lastRotation := time.Time{}
		nextKey := uint64(100)
		for step := range 200 {
			// Random events: interest, bids, snubs, bars, departures and arrivals.
			for range rng.IntN(3) {
				p := &peers[rng.IntN(len(peers))]
				switch rng.IntN(6) {
				case 0:
					p.Interested = !p.Interested
				case 1:
					p.Speed, p.Bid = true, uint64(rng.IntN(100))
				case 2:
					p.Snubbed = !p.Snubbed
				case 3:
					p.Barred = rng.IntN(4) == 0
				case 4:
					p.DownloadRate, p.UploadRate = rng.Int64N(1000), rng.Int64N(1000)
				case 5:
					nextKey++
					*p = Peer{Key: nextKey, Choked: true} // one left, another came
				}
				if !p.wants() && !p.Choked {
					p.Choked, p.Waiting, p.Paying, p.Price = true, 0, false, 0 // the loop chokes it
				}
			}
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			if !now.Before(nextRechoke) {
				nextRechoke = now.Add(10 * time.Second)
				res := Rank(peers, cfg, &st, now)
				due := lastRotation.IsZero() || now.Sub(lastRotation) >= cfg.OptimisticInterval
				if res.Rotated != due {
					t.Fatalf("trial %d step %d: Rotated=%v, %v since the last rotation", trial, step, res.Rotated, now.Sub(lastRotation))
				}
				if res.Rotated {
					lastRotation = now
				}
				apply(peers, res.Unchoked, true)
				continue
			}
			beforeOpt := slices.Clone(st.optimistic)
			beforeAt := st.rotateAt
			before := slices.Clone(peers)
			filled := Fill(peers, cfg, &st)
			if st.rotateAt != beforeAt {
				t.Fatalf("trial %d step %d: Fill moved the rotation", trial, step)
			}
			for _, k := range beforeOpt {
				if i := slices.IndexFunc(peers, func(p Peer) bool { return p.Key == k }); i >= 0 && !peers[i].Choked && !slices.Contains(st.optimistic, k) {
					t.Fatalf("trial %d step %d: Fill dropped optimistic holder %d", trial, step, k)
				}
			}
			for _, s := range filled {
				i := slices.IndexFunc(peers, func(p Peer) bool { return p.Key == s.Key })
				p := peers[i]
				if !p.Choked || !p.wants() {
					t.Fatalf("trial %d step %d: slot %+v for %+v", trial, step, s, p)
				}
				switch s.Kind {
				case Auction:
					if !cfg.Auction || !p.Speed || p.Bid == 0 || p.Bid < cfg.Reserve || s.Price < cfg.Reserve || s.Price > p.Bid {
						t.Fatalf("trial %d step %d: auction slot %+v for %+v (reserve %d)", trial, step, s, p, cfg.Reserve)
					}
				case Rate:
					if !cfg.Seed && p.Snubbed {
						t.Fatalf("trial %d step %d: rate slot for a snubbed leecher", trial, step)
					}
				}
				if s.Kind != Auction && s.Price != 0 {
					t.Fatalf("trial %d step %d: free slot with a price %+v", trial, step, s)
				}
			}
			apply(peers, filled, false)
			for i := range peers {
				if !before[i].Choked && peers[i].Choked || !before[i].Choked && (before[i].Paying != peers[i].Paying || before[i].Price != peers[i].Price) {
					t.Fatalf("trial %d step %d: Fill changed unchoked peer %+v to %+v", trial, step, before[i], peers[i])
				}
			}
			opt, reg := 0, 0
			for _, p := range peers {
				switch {
				case p.Choked:
				case slices.Contains(st.optimistic, p.Key):
					opt++
				default:
					reg++
				}
			}
			if opt > cfg.OptimisticSlots || reg > cfg.RegularSlots {
				t.Fatalf("trial %d step %d: %d regular, %d optimistic unchoked for %+v", trial, step, reg, opt, cfg)
			}
			for _, p := range peers {
				if !p.Choked || !p.wants() {
					continue
				}
				if opt < cfg.OptimisticSlots {
					t.Fatalf("trial %d step %d: optimistic slot left free with %+v choked", trial, step, p)
				}
				if reg < cfg.RegularSlots && (cfg.Seed || !p.Snubbed || (cfg.Auction && p.Speed && p.Bid != 0 && p.Bid >= cfg.Reserve)) {
					t.Fatalf("trial %d step %d: regular slot left free with %+v choked", trial, step, p)
				}
			}
		}
	}
}

// apply does what the loop does with slots: unchokes them under their terms and, after a
// Rank (all), chokes everyone else; choked peers' waits restart.
func apply(peers []Peer, slots []Slot, all bool) {
	for i := range peers {
		p := &peers[i]
		s, on := Result{Unchoked: slots}.Find(p.Key)
		switch {
		case on:
			p.Choked, p.Paying, p.Price = false, s.Kind == Auction, s.Price
		case all && !p.Choked:
			p.Choked, p.Waiting, p.Paying, p.Price = true, 0, false, 0
		}
	}
}
