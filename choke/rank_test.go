package choke

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// bidder is a Speed peer that is interested, choked and bids b.
func bidder(k, b uint64) Peer {
	return Peer{Key: k, Interested: true, Choked: true, Speed: true, Bid: b, Waiting: time.Minute, Connected: time.Hour}
}

// leech is a legacy interested peer we download from at rate.
func leech(k uint64, rate int64) Peer {
	return Peer{Key: k, Interested: true, Choked: true, DownloadRate: rate, Waiting: time.Minute, Connected: time.Hour}
}

func with(p Peer, f func(*Peer)) Peer { f(&p); return p }

func auctionCfg(reserve uint64) Config {
	c := DefaultConfig()
	c.Auction = true
	c.Reserve = reserve
	return c
}

func TestRankExamples(t *testing.T) {
	noOpt := func(c Config) Config { c.OptimisticSlots = 0; return c }
	tests := []struct {
		name  string
		cfg   Config
		peers []Peer
		want  []Slot
		price uint64
	}{
		{
			name:  "leecher tit-for-tat by download rate",
			cfg:   noOpt(DefaultConfig()),
			peers: []Peer{leech(1, 10), leech(2, 50), leech(3, 30), leech(4, 40), leech(5, 20)},
			want:  []Slot{{Key: 2, Kind: Rate}, {Key: 4, Kind: Rate}, {Key: 3, Kind: Rate}},
		},
		{
			name: "uninterested and snubbed peers get no rate slot",
			cfg:  noOpt(DefaultConfig()),
			peers: []Peer{leech(1, 10), with(leech(2, 50), func(p *Peer) { p.Interested = false }),
				with(leech(3, 90), func(p *Peer) { p.Snubbed = true }), leech(4, 40)},
			want: []Slot{{Key: 4, Kind: Rate}, {Key: 1, Kind: Rate}},
		},
		{
			name: "seed ranks by upload rate, then longest wait",
			cfg:  func() Config { c := noOpt(DefaultConfig()); c.Seed = true; return c }(),
			peers: []Peer{
				with(leech(1, 99), func(p *Peer) { p.UploadRate = 5 }),
				with(leech(2, 0), func(p *Peer) { p.UploadRate = 70 }),
				with(leech(3, 0), func(p *Peer) { p.Waiting = 2 * time.Minute }),
				with(leech(4, 0), func(p *Peer) { p.Waiting = 3 * time.Minute }),
				with(leech(5, 0), func(p *Peer) { p.Snubbed = true; p.UploadRate = 6 }), // snubbing means nothing to a seed
			},
			want: []Slot{{Key: 2, Kind: Rate}, {Key: 5, Kind: Rate}, {Key: 1, Kind: Rate}},
		},
		{
			name: "three winners pay the highest losing eligible bid",
			cfg:  noOpt(auctionCfg(10)),
			peers: []Peer{bidder(1, 50), bidder(2, 40), bidder(3, 30), bidder(4, 20), bidder(5, 5),
				leech(6, 1000)},
			want: []Slot{{Key: 1, Kind: Auction, Price: 20}, {Key: 2, Kind: Auction, Price: 20},
				{Key: 3, Kind: Auction, Price: 20}},
			price: 20,
		},
		{
			name:  "a bid under the reserve is no losing bid: winners pay the reserve",
			cfg:   func() Config { c := noOpt(auctionCfg(25)); c.RegularSlots = 4; return c }(),
			peers: []Peer{bidder(1, 50), bidder(2, 40), bidder(3, 30), bidder(4, 20)},
			want: []Slot{{Key: 1, Kind: Auction, Price: 25}, {Key: 2, Kind: Auction, Price: 25},
				{Key: 3, Kind: Auction, Price: 25}, {Key: 4, Kind: Rate}},
			price: 25,
		},
		{
			name:  "lone bidder pays the reserve, rate rule fills the rest",
			cfg:   noOpt(auctionCfg(7)),
			peers: []Peer{leech(1, 500), bidder(2, 1000), leech(3, 300), leech(4, 100)},
			want:  []Slot{{Key: 2, Kind: Auction, Price: 7}, {Key: 1, Kind: Rate}, {Key: 3, Kind: Rate}},
			price: 7,
		},
		{
			name:  "lone bidder with no reserve pays nothing",
			cfg:   noOpt(auctionCfg(0)),
			peers: []Peer{bidder(1, 1000)},
			want:  []Slot{{Key: 1, Kind: Auction, Price: 0}},
		},
		{
			name: "bids of legacy or uninterested peers and bids below the reserve are ignored",
			cfg:  noOpt(auctionCfg(10)),
			peers: []Peer{
				with(bidder(1, 100), func(p *Peer) { p.Speed = false }),
				with(bidder(2, 100), func(p *Peer) { p.Interested = false }),
				bidder(3, 9),
				with(bidder(4, 11), func(p *Peer) { p.DownloadRate = 1 }),
			},
			want:  []Slot{{Key: 4, Kind: Auction, Price: 10}, {Key: 1, Kind: Rate}, {Key: 3, Kind: Rate}},
			price: 10,
		},
		{
			name: "auction off: bids change nothing",
			cfg:  noOpt(DefaultConfig()),
			peers: []Peer{bidder(1, 1000), leech(2, 10), leech(3, 20),
				with(bidder(4, 5), func(p *Peer) { p.DownloadRate = 30 })},
			want: []Slot{{Key: 4, Kind: Rate}, {Key: 3, Kind: Rate}, {Key: 2, Kind: Rate}},
		},
		{
			name: "equal bids: rate then key decide, and the price is that bid",
			cfg:  func() Config { c := noOpt(auctionCfg(0)); c.RegularSlots = 2; return c }(),
			peers: []Peer{bidder(3, 40), bidder(1, 40), with(bidder(2, 40), func(p *Peer) { p.DownloadRate = 9 }),
				bidder(4, 10)},
			want:  []Slot{{Key: 2, Kind: Auction, Price: 40}, {Key: 1, Kind: Auction, Price: 40}},
			price: 40,
		},
		{
			name: "a repeated key holds one slot and does not set its own price",
			cfg:  func() Config { c := noOpt(auctionCfg(0)); c.RegularSlots = 2; return c }(),
			peers: []Peer{bidder(1, 90), bidder(1, 80), bidder(2, 50), bidder(3, 30), leech(1, 5000),
				leech(4, 1)},
			want:  []Slot{{Key: 1, Kind: Auction, Price: 30}, {Key: 2, Kind: Auction, Price: 30}},
			price: 30,
		},
		{
			name: "winner repriced, winner newly paying, paid peer now free",
			cfg:  func() Config { c := noOpt(auctionCfg(0)); c.RegularSlots = 3; return c }(),
			peers: []Peer{
				with(bidder(1, 90), func(p *Peer) { p.Choked = false; p.Paying = true; p.Price = 10 }), // price moves 10 -> 20
				with(bidder(2, 80), func(p *Peer) { p.Choked = false; p.Paying = true; p.Price = 20 }), // unchanged
				with(bidder(3, 70), func(p *Peer) { p.Choked = false }),                                // was free
				bidder(4, 20),
				with(leech(5, 1), func(p *Peer) { p.Choked = false; p.Paying = true; p.Price = 20 }),
			},
			want: []Slot{{Key: 1, Kind: Auction, Price: 20, Changed: true}, {Key: 2, Kind: Auction, Price: 20},
				{Key: 3, Kind: Auction, Price: 20, Changed: true}},
			price: 20,
		},
		{
			name: "previously paying peer kept by the rate rule is told it is free",
			cfg:  noOpt(auctionCfg(100)),
			peers: []Peer{with(leech(1, 50), func(p *Peer) {
				p.Choked = false
				p.Paying = true
				p.Price = 100
			})},
			want: []Slot{{Key: 1, Kind: Rate, Changed: true}},
		},
		{
			name: "optimistic goes to the longest-waiting choked peer",
			cfg:  func() Config { c := DefaultConfig(); c.RegularSlots = 1; return c }(),
			peers: []Peer{leech(1, 100),
				with(leech(2, 0), func(p *Peer) { p.Waiting = 5 * time.Minute }),
				with(leech(3, 0), func(p *Peer) { p.Waiting = 9 * time.Minute }),
				with(leech(4, 0), func(p *Peer) { p.Waiting = 10 * time.Minute; p.Choked = false })},
			want: []Slot{{Key: 1, Kind: Rate}, {Key: 3, Kind: Optimistic}},
		},
		{
			name: "a new connection's wait counts three times",
			cfg:  func() Config { c := DefaultConfig(); c.RegularSlots = 0; return c }(),
			peers: []Peer{
				with(leech(1, 0), func(p *Peer) { p.Waiting = 100 * time.Second }),
				with(leech(2, 0), func(p *Peer) { p.Waiting = 40 * time.Second; p.Connected = 40 * time.Second }),
			},
			want: []Slot{{Key: 2, Kind: Optimistic}},
		},
		{
			name: "optimistic is not auctioned: a bid breaks only an exact tie of waits",
			cfg:  func() Config { c := auctionCfg(1000); c.RegularSlots = 0; c.OptimisticSlots = 2; return c }(),
			peers: []Peer{
				with(bidder(1, 5), func(p *Peer) { p.Waiting = 3 * time.Minute }),
				with(bidder(2, 900), func(p *Peer) { p.Waiting = 2 * time.Minute }),
				with(bidder(3, 800), func(p *Peer) { p.Waiting = 2 * time.Minute }),
				with(bidder(4, 999), func(p *Peer) { p.Waiting = time.Minute }),
			},
			want: []Slot{{Key: 1, Kind: Optimistic}, {Key: 2, Kind: Optimistic}},
		},
		{
			name:  "more slots than peers",
			cfg:   Config{RegularSlots: 1 << 40, OptimisticSlots: 1 << 40, Auction: true},
			peers: []Peer{bidder(1, 10), leech(2, 10), leech(3, 5)},
			want:  []Slot{{Key: 1, Kind: Auction}, {Key: 2, Kind: Rate}, {Key: 3, Kind: Rate}},
		},
		{
			name:  "no peers, negative slots",
			cfg:   Config{RegularSlots: -1, OptimisticSlots: -3, OptimisticInterval: -2},
			peers: nil,
			want:  []Slot{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.peers)
			got := Rank(tt.peers, tt.cfg, new(State), time.Time{})
			if diff := cmp.Diff(tt.want, got.Unchoked); diff != "" {
				t.Errorf("unchoked (-want +got):\n%s", diff)
			}
			if got.ClearingPrice != tt.price {
				t.Errorf("clearing price = %d, want %d", got.ClearingPrice, tt.price)
			}
			if !slices.Equal(in, tt.peers) {
				t.Error("Rank modified its input")
			}
			// Input order must not matter.
			rev := slices.Clone(tt.peers)
			slices.Reverse(rev)
			again := Rank(rev, tt.cfg, new(State), time.Time{})
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("result depends on peer order (-fwd +rev):\n%s", diff)
			}
		})
	}
}

func TestOptimisticRotation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RegularSlots = 1
	peers := []Peer{leech(1, 100), leech(2, 0), leech(3, 0), leech(4, 0)}
	for i := range peers {
		peers[i].Waiting = time.Duration(i) * time.Minute
	}
	var st State
	var order []uint64
	// Simulate the loop: apply each result, a choked peer's wait grows by 10 s per round,
	// an unchoked peer's wait restarts when it is choked again.
	var now time.Time
	for round := 0; round < 12; round++ {
		now = now.Add(10 * time.Second) // the loop's rechoke interval
		res := Rank(peers, cfg, &st, now)
		if want := round%3 == 0; res.Rotated != want {
			t.Fatalf("round %d: Rotated = %v, want %v", round, res.Rotated, want)
		}
		opt := st.Optimistic()
		if len(opt) != 1 {
			t.Fatalf("round %d: optimistic = %v", round, opt)
		}
		if res.Rotated {
			order = append(order, opt[0])
		}
		for i := range peers {
			_, on := res.Find(peers[i].Key)
			switch {
			case on:
				peers[i].Choked = false
			case !peers[i].Choked:
				peers[i].Choked, peers[i].Waiting = true, 0
			default:
				peers[i].Waiting += 10 * time.Second
			}
		}
	}
	// Round-robin over 2, 3, 4: longest waiting first, then back to the one choked longest ago.
	if want := []uint64{4, 3, 2, 4}; !slices.Equal(order, want) {
		t.Errorf("optimistic order = %v, want %v", order, want)
	}
}

func TestOptimisticReplacedWhenGone(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RegularSlots = 1
	peers := []Peer{leech(1, 100), with(leech(2, 0), func(p *Peer) { p.Waiting = time.Hour }), leech(3, 0)}
	var st State
	now := time.Unix(1e9, 0)
	Rank(peers, cfg, &st, now)
	if got := st.Optimistic(); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("optimistic = %v, want [2]", got)
	}
	peers[1].Interested = false
	res := Rank(peers, cfg, &st, now)
	if res.Rotated {
		t.Fatal("second round rotated")
	}
	if got := st.Optimistic(); !slices.Equal(got, []uint64{3}) {
		t.Errorf("optimistic after holder lost interest = %v, want [3]", got)
	}
	// The holder promoted to a regular slot frees the optimistic one.
	peers[2].DownloadRate = 1000
	Rank(peers, cfg, &st, now)
	if got := st.Optimistic(); !slices.Equal(got, []uint64{1}) {
		t.Errorf("optimistic after promotion = %v, want [1]", got)
	}
}

// welfare is the value of the best assignment of k unit slots to bids, where the seller
// keeps an unsold slot worth the reserve: the VCG benchmark, computed without Rank.
func welfare(bids []uint64, k int, reserve uint64) uint64 {
	all := slices.Clone(bids)
	for range k {
		all = append(all, reserve)
	}
	slices.SortFunc(all, func(a, b uint64) int { return -cmpU(a, b) })
	var w uint64
	for _, b := range all[:k] {
		w += b
	}
	return w
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// vcgPayment is what winner i pays under VCG: the welfare the others lose because i is
// served.
func vcgPayment(bids []uint64, i, k int, reserve uint64) uint64 {
	others := slices.Delete(slices.Clone(bids), i, i+1)
	withI := welfare(bids, k, reserve) - bids[i]
	return welfare(others, k, reserve) - withI
}

func randomAuction(rng *rand.Rand) ([]Peer, Config) {
	cfg := auctionCfg(uint64(rng.IntN(50)))
	cfg.RegularSlots = 1 + rng.IntN(5)
	cfg.OptimisticSlots = rng.IntN(2)
	n := rng.IntN(10)
	peers := make([]Peer, n)
	for i := range peers {
		peers[i] = bidder(uint64(i+1), uint64(rng.IntN(100)))
		peers[i].DownloadRate = int64(rng.IntN(3))
		peers[i].Choked = rng.IntN(2) == 0
	}
	return peers, cfg
}

func TestAuctionPaysVCG(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 5000 {
		peers, cfg := randomAuction(rng)
		res := Rank(peers, cfg, new(State), time.Time{})
		var eligible []uint64
		for _, p := range peers {
			if p.Bid != 0 && p.Bid >= cfg.Reserve {
				eligible = append(eligible, p.Bid)
			}
		}
		var total, vcg uint64
		winners := 0
		for _, s := range res.Unchoked {
			if s.Kind != Auction {
				continue
			}
			winners++
			total += s.Price
			bid := peers[s.Key-1].Bid
			if s.Price > bid || s.Price < cfg.Reserve {
				t.Fatalf("trial %d: winner %d bid %d pays %d (reserve %d)", trial, s.Key, bid, s.Price, cfg.Reserve)
			}
			i := slices.Index(eligible, bid)
			vcg += vcgPayment(eligible, i, cfg.RegularSlots, cfg.Reserve)
		}
		if want := min(len(eligible), cfg.RegularSlots); winners != want {
			t.Fatalf("trial %d: %d winners, want %d (peers %+v)", trial, winners, want, peers)
		}
		if total != vcg {
			t.Fatalf("trial %d: total payment %d, VCG %d (cfg %+v peers %+v)", trial, total, vcg, cfg, peers)
		}
	}
}

// utility of bidder i (by index) with value v when it bids b and everyone else keeps
// their bid: v - price if it wins an auction slot, else 0.
func utility(peers []Peer, cfg Config, i int, v, b uint64) int64 {
	ps := slices.Clone(peers)
	ps[i].Bid = b
	res := Rank(ps, cfg, new(State), time.Time{})
	s, ok := res.Find(ps[i].Key)
	if !ok || s.Kind != Auction {
		return 0
	}
	return int64(v) - int64(s.Price)
}

func TestTruthfulBiddingDominates(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 2000 {
		peers, cfg := randomAuction(rng)
		if len(peers) == 0 {
			continue
		}
		i := rng.IntN(len(peers))
		v := peers[i].Bid // the bidder's true value; it bids it truthfully
		truthful := utility(peers, cfg, i, v, v)
		deviations := []uint64{0, 1, v / 2, v + 1, 2 * v, 1000, cfg.Reserve, cfg.Reserve - min(cfg.Reserve, 1)}
		for _, p := range peers {
			deviations = append(deviations, p.Bid, p.Bid+1, p.Bid-min(p.Bid, 1))
		}
		for _, b := range deviations {
			if u := utility(peers, cfg, i, v, b); u > truthful {
				t.Fatalf("trial %d: bidder %d with value %d gains %d by bidding %d instead of %d (cfg %+v peers %+v)",
					trial, i, v, u, b, truthful, cfg, peers)
			}
		}
	}
}

// TestTruthfulWorkedExample is the example of docs/bep-speed.md: 2 slots, reserve 10,
// values 50, 30, 20. Truthful, A and B win and pay 20 each.
func TestTruthfulWorkedExample(t *testing.T) {
	cfg := auctionCfg(10)
	cfg.RegularSlots, cfg.OptimisticSlots = 2, 0
	peers := []Peer{bidder(1, 50), bidder(2, 30), bidder(3, 20)}
	tests := []struct {
		who  int
		bid  uint64
		want int64
	}{
		{0, 50, 30},  // A truthful: pays 20, gains 30
		{0, 25, 30},  // A shades its bid: still pays 20, gains nothing more
		{0, 15, 0},   // A shades below C: loses the slot
		{1, 30, 10},  // B truthful: pays 20, gains 10
		{1, 21, 10},  // B shades: same price
		{1, 19, 0},   // B below C: loses
		{2, 20, 0},   // C truthful: loses
		{2, 35, -10}, // C overbids: wins, pays B's 30 > its value 20
		{2, 60, -10},
	}
	for _, tt := range tests {
		v := peers[tt.who].Bid
		if got := utility(peers, cfg, tt.who, v, tt.bid); got != tt.want {
			t.Errorf("bidder %d value %d bidding %d: utility %d, want %d", tt.who+1, v, tt.bid, got, tt.want)
		}
	}
}

func benchPeers(n int, rng *rand.Rand) []Peer {
	peers := make([]Peer, n)
	for i := range peers {
		peers[i] = Peer{
			Key:          uint64(i),
			Interested:   rng.IntN(4) != 0,
			Choked:       rng.IntN(8) != 0,
			DownloadRate: rng.Int64N(1 << 20),
			UploadRate:   rng.Int64N(1 << 20),
			Speed:        rng.IntN(2) == 0,
			Bid:          uint64(rng.IntN(1000)),
			Waiting:      time.Duration(rng.IntN(600)) * time.Second,
			Connected:    time.Duration(rng.IntN(3600)) * time.Second,
		}
	}
	return peers
}

func BenchmarkRank(b *testing.B) {
	for _, n := range []int{50, 500, 5000} {
		for _, auction := range []bool{false, true} {
			name := fmt.Sprintf("peers=%d/auction=%v", n, auction)
			b.Run(name, func(b *testing.B) {
				peers := benchPeers(n, rand.New(rand.NewPCG(uint64(n), 9)))
				cfg := DefaultConfig()
				cfg.Auction = auction
				cfg.Reserve = 100
				var st State
				b.ReportAllocs()
				for b.Loop() {
					Rank(peers, cfg, &st, time.Time{})
				}
			})
		}
	}
}

// TestRankReciprocation: a leecher keeps its reciprocation slot for the peer it downloads
// fastest from, the auction fills the others and prices them among the remaining bidders;
// as a seed, or with nobody uploading to us, the auction takes every regular slot.
func TestRankReciprocation(t *testing.T) {
	cfg := auctionCfg(10)
	cfg.OptimisticSlots = 0
	cfg.ReciprocationSlots = 1
	peers := []Peer{bidder(1, 50), bidder(2, 40), bidder(3, 30), leech(4, 2000), leech(5, 1000),
		with(bidder(6, 5), func(p *Peer) { p.DownloadRate = 3000; p.Snubbed = true })}
	res := Rank(peers, cfg, nil, time.Time{})
	want := []Slot{{Key: 4, Kind: Rate}, {Key: 1, Kind: Auction, Price: 30}, {Key: 2, Kind: Auction, Price: 30}}
	if !slices.Equal(res.Unchoked, want) || res.ClearingPrice != 30 {
		t.Errorf("leecher: got %+v (price %d), want %+v (price 30)", res.Unchoked, res.ClearingPrice, want)
	}
	cfg.Seed = true
	res = Rank(peers, cfg, nil, time.Time{})
	want = []Slot{{Key: 1, Kind: Auction, Price: 10}, {Key: 2, Kind: Auction, Price: 10}, {Key: 3, Kind: Auction, Price: 10}}
	if !slices.Equal(res.Unchoked, want) {
		t.Errorf("seed: got %+v, want %+v", res.Unchoked, want)
	}
	cfg.Seed = false
	res = Rank(peers[:3], cfg, nil, time.Time{}) // nobody uploads to us
	if res.ClearingPrice != 10 || len(res.Unchoked) != 3 || res.Unchoked[2].Kind != Auction {
		t.Errorf("no uploaders: got %+v", res.Unchoked)
	}
}
