package choke

import (
	"math/rand/v2"
	"testing"
	"time"
)

// sim plays the torrent loop around Rank with a virtual clock: every round is a 10 s
// rechoke, the loop applies each result (choke, unchoke, terms) and the peers' waits
// advance the way the loop measures them.
type sim struct {
	peers []Peer
	cfg   Config
	st    State
	now   time.Time               // the virtual clock
	turns map[uint64]map[Kind]int // rounds spent unchoked, by kind
	// repriced counts re-pricing events (choke, bid-response, unchoke) the loop performed.
	repriced int
}

func newSim(peers []Peer, cfg Config) *sim {
	return &sim{peers: peers, cfg: cfg, turns: map[uint64]map[Kind]int{}}
}

func (s *sim) round() Result {
	const tick = 10 * time.Second
	s.now = s.now.Add(tick)
	res := Rank(s.peers, s.cfg, &s.st, s.now)
	for i := range s.peers {
		p := &s.peers[i]
		p.Connected += tick
		slot, on := res.Find(p.Key)
		switch {
		case on:
			if s.turns[p.Key] == nil {
				s.turns[p.Key] = map[Kind]int{}
			}
			s.turns[p.Key][slot.Kind]++
			if slot.Changed {
				s.repriced++
			}
			p.Choked = false
			p.Paying, p.Price = slot.Kind == Auction, slot.Price
		case !p.Choked:
			p.Choked, p.Waiting, p.Paying, p.Price = true, 0, false, 0
		default:
			p.Waiting += tick
		}
	}
	return res
}

// TestSimLegacyPeersNotStarved: with eight high bidders competing for three regular slots,
// legacy peers that give us nothing still get regular optimistic turns. Speed only
// re-orders the regular slots; it never locks anyone out of the optimistic rotation.
func TestSimLegacyPeersNotStarved(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var peers []Peer
	for k := range uint64(8) {
		peers = append(peers, bidder(k, 1000+uint64(rng.IntN(1000))))
	}
	for k := uint64(8); k < 16; k++ {
		peers = append(peers, leech(k, 0))
	}
	cfg := auctionCfg(500)
	cfg.Seed = true
	s := newSim(peers, cfg)
	const rounds = 6 * 60 // one hour
	for range rounds {
		res := s.round()
		if n := len(res.Unchoked); n != cfg.RegularSlots+cfg.OptimisticSlots {
			t.Fatalf("%d slots filled", n)
		}
	}
	// 120 rotations over 13 choked candidates: every peer outside the three winners gets
	// about 9 rotations of 3 rounds each.
	for k := uint64(8); k < 16; k++ {
		if got := s.turns[k][Optimistic]; got < 15 {
			t.Errorf("legacy peer %d had %d optimistic rounds in an hour, want >= 15", k, got)
		}
		if s.turns[k][Auction] != 0 {
			t.Errorf("legacy peer %d won an auction", k)
		}
	}
	t.Logf("optimistic rounds of legacy peers: %v", func() (o []int) {
		for k := uint64(8); k < 16; k++ {
			o = append(o, s.turns[k][Optimistic])
		}
		return
	}())
	// The three highest bidders hold the regular slots all hour and the price is stable,
	// so after the first round nobody is re-priced.
	if s.repriced != 0 {
		t.Errorf("%d re-pricings with stable bids", s.repriced)
	}
}

// TestSimRepriceOnBidChange: when the highest losing bid moves, every winner stays
// unchoked but is re-priced exactly once.
func TestSimRepriceOnBidChange(t *testing.T) {
	peers := []Peer{bidder(1, 900), bidder(2, 800), bidder(3, 700), bidder(4, 100), leech(5, 0)}
	cfg := auctionCfg(50)
	cfg.OptimisticSlots = 0
	s := newSim(peers, cfg)
	res := s.round()
	if res.ClearingPrice != 100 {
		t.Fatalf("clearing price %d, want 100", res.ClearingPrice)
	}
	s.round()
	if s.repriced != 0 {
		t.Fatalf("re-priced without a change: %d", s.repriced)
	}
	s.peers[3].Bid = 300 // the best loser raises its bid
	res = s.round()
	if res.ClearingPrice != 300 || s.repriced != 3 {
		t.Fatalf("clearing price %d, re-pricings %d; want 300 and 3", res.ClearingPrice, s.repriced)
	}
	for _, sl := range res.Unchoked {
		if sl.Kind != Auction || sl.Price != 300 || !sl.Changed {
			t.Errorf("slot %+v", sl)
		}
	}
	s.peers[3].Bid = 0 // the loser withdraws: winners fall back to the reserve
	res = s.round()
	if res.ClearingPrice != 50 || s.repriced != 6 {
		t.Fatalf("clearing price %d, re-pricings %d; want 50 and 6", res.ClearingPrice, s.repriced)
	}
}
