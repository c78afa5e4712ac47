package choke

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestOrderedMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 2000 {
		n := rng.IntN(80)
		vals := make([]int, n)
		for i := range vals {
			vals[i] = rng.IntN(20) // many ties
		}
		// A total order: value, then index, as Rank's comparators end on the key.
		by := func(a, b int) int {
			if c := cmp.Compare(vals[a], vals[b]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		}
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		rng.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		want := slices.Clone(idx)
		slices.SortFunc(want, by)
		o := newOrdered(idx, rng.IntN(n+2)-1, by)
		got := make([]int, 0, n)
		for j := range o.len() {
			got = append(got, o.at(j))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: got %v, want %v", trial, got, want)
		}
	}
}

// TestManySlotsOneEach runs configurations past the linear-scan limit with repeated keys:
// every key holds at most one slot and every slot is filled while candidates remain.
func TestManySlotsOneEach(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 300 {
		n := rng.IntN(200)
		peers := make([]Peer, n)
		keys := map[uint64]bool{}
		for i := range peers {
			peers[i] = bidder(uint64(rng.IntN(60)), uint64(rng.IntN(100)))
			peers[i].DownloadRate = rng.Int64N(100)
			keys[peers[i].Key] = true
		}
		cfg := auctionCfg(uint64(rng.IntN(50)))
		cfg.RegularSlots, cfg.OptimisticSlots = rng.IntN(70), rng.IntN(10)
		res := Rank(peers, cfg, new(State), time.Time{})
		seen := map[uint64]bool{}
		for _, s := range res.Unchoked {
			if seen[s.Key] {
				t.Fatalf("trial %d: key %d holds two slots: %+v", trial, s.Key, res.Unchoked)
			}
			seen[s.Key] = true
		}
		if want := min(len(keys), cfg.RegularSlots+cfg.OptimisticSlots); len(res.Unchoked) != want {
			t.Fatalf("trial %d: %d slots filled, want %d", trial, len(res.Unchoked), want)
		}
	}
}
