package peer

import (
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
)

// TestBudgetControls: the session's budget, maximum price and per-torrent switches change
// the auto-bid at run time, and two torrents share one budget (their bids price the data
// both still want, not each the whole budget).
func TestBudgetControls(t *testing.T) {
	dir := t.TempDir()
	a := writeTree(t, dir, "a", []int{1 << 20}, 64<<10, 21)
	b := writeTree(t, dir, "b", []int{1 << 20}, 64<<10, 22)
	sc := speedConfig(0, noReserve)
	sc.Budget = bidext.UnitsPerBTT
	s := newSpeedSession(t, "127.0.0.1", Settings{}, sc)
	ta, err := s.AddTorrent(a.Info, TorrentOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bidOf := func(T *Torrent, want uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			st := T.Speed()
			if st.Bid == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("bid %d, want %d", st.Bid, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	one, _ := bidext.BudgetBid(bidext.UnitsPerBTT, 1<<20, 0)
	bidOf(ta, one)
	tb, err := s.AddTorrent(b.Info, TorrentOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	two, _ := bidext.BudgetBid(bidext.UnitsPerBTT, 2<<20, 0)
	bidOf(tb, two)
	s.SetBudget(2 * bidext.UnitsPerBTT) // a user change: both re-bid at once
	bidOf(ta, 2*two)
	bidOf(tb, 2*two)
	s.SetMaxPrice(1000)
	bidOf(ta, 1000)
	tb.SetBidding(false)
	bidOf(tb, 0)
	s.SetMaxPrice(0)
	four, _ := bidext.BudgetBid(2*bidext.UnitsPerBTT, 1<<20, 0) // b no longer bids: a prices its data alone
	bidOf(ta, four)
	if limit, committed, signed := s.Budget(); limit != 2*bidext.UnitsPerBTT || committed != 0 || signed != 0 {
		t.Fatalf("budget %d committed %d signed %d", limit, committed, signed)
	}
}
