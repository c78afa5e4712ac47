package peer

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/speedbt/btt/wire/metainfo"
)

// idleTorrentHeap bounds the heap an idle torrent holds (docs/INVARIANTS.md). It measures
// about 6 KiB; with the event channel and disk queue allocated up front it was 43 KiB.
const idleTorrentHeap = 12 << 10

// asleep reports whether tor holds nothing that only connections use (idle.go).
func asleep(tb testing.TB, tor *Torrent) bool {
	var ok bool
	onLoop(tor.t, func() { ok = tor.t.events == nil && tor.t.disk == nil })
	return ok
}

// waitAsleep waits up to 10 s (the loop releases on its 1 s tick) for tor to be idle.
func waitAsleep(tb testing.TB, tor *Torrent) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !asleep(tb, tor); {
		if time.Now().After(deadline) {
			tb.Fatalf("torrent still holds its event channel or disk workers 10 s after its last peer left: %+v", tor.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Torrents nobody is connected to hold one goroutine each and a few KiB of heap.
func TestIdleTorrentHoldsLittle(t *testing.T) {
	const n = 200
	dir := t.TempDir()
	mis := make([]*metainfo.MetaInfo, n)
	for i := range n {
		mis[i] = writeTree(t, dir, fmt.Sprintf("t%d", i), []int{64 << 10}, 16<<10, uint64(i))
	}
	s := newTestSession(t, Settings{})
	h0 := heapInUse()
	g0 := runtime.NumGoroutine()
	tors := make([]*Torrent, n)
	for i := range n {
		tor, err := s.AddTorrent(mis[i].Info, TorrentOptions{DataDir: dir, Trackers: [][]string{{"http://127.0.0.1:1/announce"}}})
		if err != nil {
			t.Fatal(err)
		}
		tors[i] = tor
	}
	h1 := heapInUse()
	g1 := runtime.NumGoroutine()
	// Announces to the dead tracker run in goroutines of their own while they last.
	if per := float64(g1-g0) / n; per > 2 {
		t.Errorf("%.2f goroutines per idle torrent; want its loop and at most a running announce", per)
	}
	if per := (int64(h1) - int64(h0)) / n; per > idleTorrentHeap {
		t.Errorf("%d bytes of heap per idle torrent; want at most %d", per, idleTorrentHeap)
	}
	for i, tor := range tors {
		if !asleep(t, tor) {
			t.Fatalf("idle torrent %d holds an event channel or disk workers", i)
		}
	}
}

// A torrent makes its event channel and disk workers when a peer connects, releases them
// when the last one leaves, and makes them again for the next.
func TestTorrentWakesAndSleeps(t *testing.T) {
	seedDir := t.TempDir()
	mi := writeTree(t, seedDir, "wake", []int{600_000}, 32<<10, 7)
	seeder := newTestSession(t, Settings{})
	st, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: seedDir})
	if err != nil {
		t.Fatal(err)
	}
	if !asleep(t, st) {
		t.Fatal("a torrent nobody connected to holds an event channel or disk workers")
	}
	for round := range 2 {
		leechDir := t.TempDir()
		leecher := newTestSession(t, Settings{})
		lt, err := leecher.AddTorrent(mi.Info, TorrentOptions{DataDir: leechDir, Peers: []string{seeder.Addr().String()}})
		if err != nil {
			t.Fatal(err)
		}
		// Blocks reach the leecher's disk workers through its event channel: completing
		// proves both were made.
		waitComplete(t, lt, 30*time.Second)
		sameTree(t, filepath.Join(seedDir, "wake"), filepath.Join(leechDir, "wake"))
		if up := st.Stats().Uploaded; up < int64(round+1)*mi.Info.TotalLength {
			t.Errorf("round %d: the seeder uploaded %d bytes in all", round, up)
		}
		// Two seeds part (both-seeds) and do not redial each other at once
		// (bothSeedsRedial): each torrent goes back to sleep.
		waitAsleep(t, lt)
		waitAsleep(t, st)
		leecher.Close()
	}
}
