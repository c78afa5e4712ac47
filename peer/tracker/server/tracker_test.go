package server

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/wire/tracker"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ih(i int) [20]byte { return [20]byte{byte(i >> 8), byte(i), 0xaa} }

func peerReq(h [20]byte, port uint16, left int64, bid uint64) tracker.AnnounceRequest {
	r := tracker.AnnounceRequest{InfoHash: h, Port: port, Left: left, Bid: bid}
	copy(r.PeerID[:], fmt.Sprintf("-BT0001-%012d", port))
	return r
}

var lo = netip.MustParseAddr("127.0.0.1")

func addrs(ps []tracker.Peer) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s/%d", p.Addr, p.Bid))
	}
	return out
}

func TestAnnounceBasics(t *testing.T) {
	tr := New(Config{Interval: time.Minute})
	h := ih(1)
	// A seed and two leechers.
	mustAnnounce(t, tr, t0, lo, peerReq(h, 1, 0, 0))
	mustAnnounce(t, tr, t0, lo, peerReq(h, 2, 10, 0))
	r := mustAnnounce(t, tr, t0, lo, peerReq(h, 3, 10, 0))
	if r.Complete != 1 || r.Incomplete != 2 || len(r.Peers) != 2 || r.Interval != time.Minute || r.MinInterval != 30*time.Second {
		t.Errorf("leecher got %+v", r)
	}
	for _, p := range r.Peers {
		if p.Addr.Port() == 3 {
			t.Error("a peer was given its own address")
		}
	}
	// A seed is not given other seeds.
	r = mustAnnounce(t, tr, t0, lo, peerReq(h, 1, 0, 0))
	if len(r.Peers) != 2 {
		t.Errorf("seed got %v, want the 2 leechers", addrs(r.Peers))
	}
	// Completed moves a leecher to the seeds and counts a download.
	c := peerReq(h, 2, 0, 0)
	c.Event = tracker.EventCompleted
	mustAnnounce(t, tr, t0, lo, c)
	if got := tr.Scrape([][20]byte{h, ih(2)}); got[0] != (tracker.ScrapeResult{Complete: 2, Downloaded: 1, Incomplete: 1}) || got[1] != (tracker.ScrapeResult{}) {
		t.Errorf("scrape %+v", got)
	}
	// Stopped removes the peer; the last one leaving removes the torrent.
	for _, port := range []uint16{1, 2, 3} {
		s := peerReq(h, port, 0, 0)
		s.Event = tracker.EventStopped
		mustAnnounce(t, tr, t0, lo, s)
	}
	if st := tr.Stats(); st != (Stats{}) {
		t.Errorf("after every peer stopped: %v", st)
	}
	if _, err := tr.Announce(t0, lo, peerReq(h, 0, 0, 0)); !errors.Is(err, ErrPort) {
		t.Errorf("port 0: %v", err)
	}
}

func mustAnnounce(t *testing.T, tr *Tracker, now time.Time, src netip.Addr, r tracker.AnnounceRequest) tracker.AnnounceResponse {
	t.Helper()
	resp, err := tr.Announce(now, src, r)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestExpiry(t *testing.T) {
	tr := New(Config{Interval: time.Minute}) // expires after 90 s
	h := ih(1)
	mustAnnounce(t, tr, t0, lo, peerReq(h, 1, 5, 100))
	mustAnnounce(t, tr, t0.Add(60*time.Second), lo, peerReq(h, 2, 5, 0))
	r := mustAnnounce(t, tr, t0.Add(89*time.Second), lo, peerReq(h, 3, 5, 0))
	if len(r.Peers) != 2 {
		t.Errorf("at 89 s: %v, want both", addrs(r.Peers))
	}
	r = mustAnnounce(t, tr, t0.Add(91*time.Second), lo, peerReq(h, 3, 5, 0))
	if len(r.Peers) != 1 || r.Peers[0].Addr.Port() != 2 {
		t.Errorf("at 91 s: %v, want only port 2", addrs(r.Peers))
	}
	if p := tr.BidScrape(t0.Add(91*time.Second), 0, 10); len(p.Entries) != 0 {
		t.Errorf("expired bidder still in bid-scrape: %+v", p)
	}
	tr.Sweep(t0.Add(200 * time.Second))
	if st := tr.Stats(); st != (Stats{}) {
		t.Errorf("after sweep: %v", st)
	}
}

// Memory stays bounded: per torrent, in torrents and in peers.
func TestBounds(t *testing.T) {
	tr := New(Config{Interval: time.Minute, MaxTorrents: 3, MaxPeersPerTorrent: 4, MaxPeers: 10})
	for i := 0; i < 100; i++ {
		tr.Announce(t0, lo, peerReq(ih(0), uint16(i+1), 1, 0))
	}
	if st := tr.Stats(); st.Peers != 4 {
		t.Errorf("one torrent holds %d peers, limit 4", st.Peers)
	}
	// A full swarm still answers.
	if r := mustAnnounce(t, tr, t0, lo, peerReq(ih(0), 999, 1, 0)); len(r.Peers) != 4 {
		t.Errorf("full swarm answered %d peers", len(r.Peers))
	}
	var full int
	for i := 1; i < 50; i++ {
		if _, err := tr.Announce(t0, lo, peerReq(ih(i), 1, 1, 0)); errors.Is(err, ErrFull) {
			full++
		}
	}
	if st := tr.Stats(); st.Torrents != 3 || full != 47 {
		t.Errorf("%v, %d refused; want 3 torrents, 47 refused", st, full)
	}
	for i := 1; i < 3; i++ {
		for p := 2; p < 10; p++ {
			tr.Announce(t0, lo, peerReq(ih(i), uint16(p), 1, 0))
		}
	}
	if st := tr.Stats(); st.Peers != 10 {
		t.Errorf("%v, want the total cap of 10 peers", st)
	}
	// Once the old peers expire, room comes back.
	later := t0.Add(time.Hour)
	if _, err := tr.Announce(later, lo, peerReq(ih(77), 1, 1, 0)); err != nil {
		t.Errorf("after expiry: %v", err)
	}
	if st := tr.Stats(); st.Torrents != 1 || st.Peers != 1 {
		t.Errorf("after expiry: %v", st)
	}
}

func TestRateLimit(t *testing.T) {
	tr := New(Config{RatePerSecond: 10, RateBurst: 5})
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	n := 0
	for i := 0; i < 100; i++ {
		if tr.Allow(a, t0) {
			n++
		}
	}
	if n != 5 {
		t.Errorf("burst: %d allowed, want 5", n)
	}
	if !tr.Allow(b, t0) {
		t.Error("another address was limited")
	}
	if !tr.Allow(a, t0.Add(100*time.Millisecond)) || tr.Allow(a, t0.Add(100*time.Millisecond)) {
		t.Error("refill: want exactly one more after 100 ms at 10/s")
	}
	if !New(Config{RatePerSecond: -1}).Allow(a, t0) {
		t.Error("negative rate should disable the limit")
	}
}

// The bid-announce proof: 10 clients announce different bids; the top 3 with
// a floor are exactly the expected peers, highest first; legacy announces
// get ordinary answers; bid-scrape lists torrents in bid order, paginated.
func TestBidAnnounce(t *testing.T) {
	tr := New(Config{Interval: time.Minute})
	h := ih(1)
	bids := []uint64{500, 0, 900, 50, 700, 300, 0, 1000, 800, 100} // ports 1..10
	for i, b := range bids {
		mustAnnounce(t, tr, t0, lo, peerReq(h, uint16(i+1), 1, b))
	}
	for _, tc := range []struct {
		top    int
		floor  uint64
		numw   int
		self   uint16
		expect []string
	}{
		{3, 600, 0, 20, []string{"127.0.0.1:8/1000", "127.0.0.1:3/900", "127.0.0.1:9/800"}},
		{3, 850, 0, 20, []string{"127.0.0.1:8/1000", "127.0.0.1:3/900"}},
		{3, 2000, 0, 20, []string{}},
		{20, 0, 0, 20, []string{"127.0.0.1:8/1000", "127.0.0.1:3/900", "127.0.0.1:9/800", "127.0.0.1:5/700",
			"127.0.0.1:1/500", "127.0.0.1:6/300", "127.0.0.1:10/100", "127.0.0.1:4/50"}}, // no-bid peers are not bidders
		{3, 600, 2, 20, []string{"127.0.0.1:8/1000", "127.0.0.1:3/900"}},                  // numwant caps top
		{3, 600, 0, 8, []string{"127.0.0.1:3/900", "127.0.0.1:9/800", "127.0.0.1:5/700"}}, // never oneself
	} {
		r := peerReq(h, tc.self, 1, 0)
		r.Top, r.MinBid, r.NumWant = tc.top, tc.floor, tc.numw
		resp := mustAnnounce(t, tr, t0, lo, r)
		if got := addrs(resp.Peers); fmt.Sprint(got) != fmt.Sprint(tc.expect) || !resp.HasBids {
			t.Errorf("top %d floor %d numwant %d: %v, want %v", tc.top, tc.floor, tc.numw, got, tc.expect)
		}
		if tc.self == 20 {
			stop := r
			stop.Event = tracker.EventStopped
			mustAnnounce(t, tr, t0, lo, stop)
		}
	}
	// Legacy: no Speed parameters, an ordinary answer without bids.
	resp := mustAnnounce(t, tr, t0, lo, peerReq(h, 30, 1, 0))
	if resp.HasBids || len(resp.Peers) != 10 {
		t.Errorf("legacy announce: %d peers, bids %v", len(resp.Peers), resp.HasBids)
	}
	for _, p := range resp.Peers {
		if p.Bid != 0 {
			t.Errorf("legacy answer carries a bid: %v", p)
		}
	}
	// A peer that withdraws its bid leaves the top list.
	mustAnnounce(t, tr, t0, lo, peerReq(h, 8, 1, 0))
	r := peerReq(h, 30, 1, 0)
	r.Top = 1
	if got := addrs(mustAnnounce(t, tr, t0, lo, r).Peers); fmt.Sprint(got) != "[127.0.0.1:3/900]" {
		t.Errorf("after withdrawal: %v", got)
	}

	// Bid-scrape over several torrents.
	for i, b := range []uint64{40, 0, 60, 60, 10} { // torrent 10+i
		mustAnnounce(t, tr, t0, lo, peerReq(ih(10+i), 1, 1, b))
	}
	mustAnnounce(t, tr, t0, lo, peerReq(ih(12), 2, 1, 5)) // torrent 12: 2 bidders, high 60
	want := []tracker.BidScrapeEntry{
		{InfoHash: h, High: 900, Count: 7}, {InfoHash: ih(12), High: 60, Count: 2}, {InfoHash: ih(13), High: 60, Count: 1},
		{InfoHash: ih(10), High: 40, Count: 1}, {InfoHash: ih(14), High: 10, Count: 1},
	}
	var got []tracker.BidScrapeEntry
	off, pages := 0, 0
	for {
		p := tr.BidScrape(t0, off, 2)
		got = append(got, p.Entries...)
		pages++
		if p.Next == 0 {
			break
		}
		off = p.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Errorf("bid-scrape in %d pages:\n%v\nwant\n%v", pages, got, want)
	}
	if p := tr.BidScrape(t0, 99, 2); len(p.Entries) != 0 || p.Next != 0 {
		t.Errorf("past the end: %+v", p)
	}
}

// A flood of announces from a million different sources for different
// torrents leaves the tracker within its bounds, in count and in heap.
func TestFloodMemoryBounded(t *testing.T) {
	tr := New(Config{Interval: time.Minute, MaxTorrents: 1000, MaxPeersPerTorrent: 50, MaxPeers: 5000, RatePerSecond: 5, RateBurst: 5})
	us := NewUDPServer(tr)
	us.Now = func() time.Time { return t0 }
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var buf []byte
	served := 0
	for i := range 200_000 {
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 6881)
		id := us.ids.current(from, t0)
		buf = tracker.AppendUDPAnnounce(buf[:0], id, 1, "/announce?bid=5", peerReq(ih(i%5000), 6881, 1, 0))
		if r := us.Handle(buf, from, nil); len(r) >= 20 && r[3] == tracker.ActionAnnounce {
			served++
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := tr.Stats()
	if st.Torrents > 1000 || st.Peers > 5000 {
		t.Errorf("bounds exceeded: %v", st)
	}
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d announces answered, %v, heap grew %d KiB", served, st, grew>>10)
	if grew > 8<<20 {
		t.Errorf("heap grew %d MiB for 5,000 peers", grew>>20)
	}
	runtime.KeepAlive(tr)
}

// IPv6 peers go in peers6 (HTTP compact) and in 18-byte entries to IPv6
// requesters (UDP); each family's UDP reply leaves the other family out.
func TestIPv6Peers(t *testing.T) {
	tr := New(Config{})
	us := NewUDPServer(tr)
	h := ih(1)
	v6 := netip.MustParseAddr("2001:db8::7")
	mustAnnounce(t, tr, t0, v6, peerReq(h, 1, 1, 0))
	mustAnnounce(t, tr, t0, lo, peerReq(h, 2, 1, 0))
	resp := mustAnnounce(t, tr, t0, netip.MustParseAddr("::ffff:127.0.0.3"), peerReq(h, 3, 1, 0))
	b, _ := tracker.EncodeHTTPAnnounce(resp, tracker.HTTPOptions{Compact: true})
	got, err := tracker.DecodeHTTPAnnounce(b)
	if err != nil || len(got.Peers) != 2 || !strings.Contains(string(b), "6:peers618:") {
		t.Errorf("HTTP compact with an IPv6 peer: %q %v", b, err)
	}
	us.Now = func() time.Time { return t0 }
	for _, tc := range []struct {
		from netip.AddrPort
		want string
	}{
		{netip.AddrPortFrom(netip.MustParseAddr("2001:db8::9"), 4), "[2001:db8::7]:1"},
		{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.9"), 4), "127.0.0.1:2 127.0.0.3:3"},
	} {
		c := us.Handle(tracker.AppendUDPConnect(nil, 1), tc.from, nil)
		id, _ := tracker.ParseUDPConnectReply(c, 1)
		r := us.Handle(tracker.AppendUDPAnnounce(nil, id, 2, "", peerReq(h, 4, 1, 0)), tc.from, nil)
		resp, err := tracker.ParseUDPAnnounceReply(r, 2, tc.from.Addr().Is6(), false)
		if err != nil {
			t.Fatal(err)
		}
		var ps []string
		for _, p := range resp.Peers {
			ps = append(ps, p.Addr.String())
		}
		slices.Sort(ps)
		if strings.Join(ps, " ") != tc.want {
			t.Errorf("UDP from %v: %v, want %s", tc.from, ps, tc.want)
		}
	}
}
