package peer

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/peer/tracker/server"
	"github.com/speedbt/btt/wire/tracker"
)

// TestTrackerPeersMeet: a seeder and four leechers, each listening on its own loopback
// address (127.0.0.2-6), know only our tracker. Their announces and dials leave from their
// listen addresses, so the tracker lists each where it listens and the leechers connect to
// each other and trade: with the seeder's upload capped, they upload to one another.
func TestTrackerPeersMeet(t *testing.T) {
	tr := server.New(server.Config{})
	hs := httptest.NewServer(&server.HTTPHandler{Tracker: tr})
	defer hs.Close()
	announce := [][]string{{hs.URL + "/announce"}}

	dir := t.TempDir()
	mi := writeTree(t, dir, "meet", []int{6 << 20}, 64<<10, 31)
	seeder := newTestSessionAt(t, "127.0.0.2", Settings{UploadRateLimit: 2 << 20})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir, Trackers: announce}); err != nil {
		t.Fatal(err)
	}
	listens := map[netip.AddrPort]bool{netip.MustParseAddrPort(seeder.Addr().String()): true}
	var leechers []*Torrent
	var outs []string
	for i := 3; i <= 6; i++ {
		s := newTestSessionAt(t, fmt.Sprintf("127.0.0.%d", i), Settings{})
		listens[netip.MustParseAddrPort(s.Addr().String())] = true
		out := t.TempDir()
		lt, err := s.AddTorrent(mi.Info, TorrentOptions{DataDir: out, Trackers: announce})
		if err != nil {
			t.Fatal(err)
		}
		leechers = append(leechers, lt)
		outs = append(outs, out)
	}
	for i, lt := range leechers {
		waitComplete(t, lt, 60*time.Second)
		sameTree(t, filepath.Join(dir, "meet"), filepath.Join(outs[i], "meet"))
	}

	// The tracker lists every peer at the address it listens on.
	var pid [20]byte
	copy(pid[:], "-TEST00-observer0000")
	resp, err := tr.Announce(time.Now(), netip.MustParseAddr("127.0.0.99"),
		tracker.AnnounceRequest{InfoHash: mi.InfoHash(), PeerID: pid, Port: 1, Left: 1, NumWant: 50})
	if err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, p := range resp.Peers {
		ap := netip.AddrPortFrom(p.Addr.Addr().Unmap(), p.Addr.Port())
		if !listens[ap] {
			t.Errorf("tracker lists %v, where no peer listens (listening: %v)", ap, listens)
		}
		listed++
	}
	if listed != len(listens) {
		t.Errorf("tracker lists %d peers, want %d", listed, len(listens))
	}
	// Leechers only upload to each other.
	var traded int64
	for _, lt := range leechers {
		traded += lt.Stats().Uploaded
	}
	if traded < mi.Info.TotalLength/4 {
		t.Errorf("leechers uploaded %d bytes to each other in all, want at least a quarter of the torrent (%d)", traded, mi.Info.TotalLength/4)
	}
	t.Logf("leechers uploaded %d bytes to each other; seeder uploaded %d", traded, seeder.torrents[mi.InfoHash()].Stats().Uploaded)
}

// TestSeedDialsTopBidders: a selling seed asks its tracker for the highest bidders of its
// torrent (top, min_bid) and dials them. The bidder here knows no peer and announced only
// to the tracker, so it gets the torrent only because the seed found it there.
func TestSeedDialsTopBidders(t *testing.T) {
	tr := server.New(server.Config{})
	var topQueries atomic.Int32
	h := &server.HTTPHandler{Tracker: tr}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("top") != "" {
			topQueries.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer hs.Close()

	dir := t.TempDir()
	mi := writeTree(t, dir, "top", []int{2 << 20}, 64<<10, 32)
	bidderSess := newSpeedSession(t, "127.0.0.3", Settings{}, speedConfig(1000*bidext.UnitsPerBTT, noReserve))
	lt, err := bidderSess.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// The bidder's announce, as a tracker records it: its listen address and its bid.
	ba := netip.MustParseAddrPort(bidderSess.Addr().String())
	var pid [20]byte
	copy(pid[:], "-TEST00-bidder000000")
	if _, err := tr.Announce(time.Now(), ba.Addr(), tracker.AnnounceRequest{InfoHash: mi.InfoHash(), PeerID: pid,
		Port: ba.Port(), Left: mi.Info.TotalLength, Bid: 5 * bidext.UnitsPerBTT}); err != nil {
		t.Fatal(err)
	}
	seeder := newSpeedSession(t, "127.0.0.2", Settings{}, speedConfig(0, noReserve))
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir, Trackers: [][]string{{hs.URL + "/announce"}}}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	if topQueries.Load() == 0 {
		t.Error("the seed never asked the tracker for its top bidders")
	}
}
