package server

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/wire/tracker"
)

// referenceTop is the answer by definition: every live bidder other than self with a bid
// of at least floor, sorted, the first n.
func referenceTop(tr *Tracker, h [20]byte, self netip.AddrPort, now time.Time, n int, floor uint64) []tracker.Peer {
	s := tr.torrents[h]
	var out []tracker.Peer
	for _, p := range s.list {
		if p.addr != self && p.bid >= floor && p.bid > 0 && !tr.expired(&p, now) {
			out = append(out, tracker.Peer{Addr: p.addr, ID: p.id, Bid: p.bid})
		}
	}
	slices.SortFunc(out, func(a, b tracker.Peer) int {
		if c := cmp.Compare(b.Bid, a.Bid); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
	return out[:min(n, len(out))]
}

// TestTopBiddersProperty: under random announces (new bids, raised, lowered, withdrawn,
// stopped peers, time passing beyond expiry, sweeps), the kept top-k order answers every
// top-bidder query exactly as sorting the whole swarm would, and never holds more than
// 2*MaxNumWant entries.
func TestTopBiddersProperty(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 3))
		tr := New(Config{Interval: time.Minute, MaxNumWant: 4, RatePerSecond: -1})
		h := ih(7)
		now := t0
		for step := range 3000 {
			port := uint16(1 + r.IntN(60))
			req := peerReq(h, port, 1, 0)
			switch r.IntN(10) {
			case 0:
				req.Event = tracker.EventStopped
			case 1, 2:
				// no bid
			default:
				req.Bid = uint64(1 + r.IntN(30)) // ties are frequent
			}
			if r.IntN(4) == 0 {
				req.Top, req.MinBid = 1+r.IntN(5), uint64(r.IntN(10))
			}
			if r.IntN(50) == 0 {
				now = now.Add(time.Duration(r.IntN(60)) * time.Second)
			}
			if r.IntN(200) == 0 {
				tr.Sweep(now)
			}
			resp, err := tr.Announce(now, lo, req)
			if err != nil {
				t.Fatal(err)
			}
			if req.Top > 0 && req.Event != tracker.EventStopped && tr.torrents[h] != nil {
				want := min(req.Top, tr.cfg.MaxNumWant)
				ref := referenceTop(tr, h, netip.AddrPortFrom(lo, port), now, want, max(req.MinBid, 1))
				if diff := gocmp.Diff(ref, resp.Peers, gocmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" && !(len(ref) == 0 && len(resp.Peers) == 0) {
					t.Fatalf("seed %d step %d: top %d floor %d: (-want +got)\n%s", seed, step, want, req.MinBid, diff)
				}
			}
			if s := tr.torrents[h]; s != nil && len(s.top.list) > 2*tr.cfg.MaxNumWant {
				t.Fatalf("top order holds %d entries, bound %d", len(s.top.list), 2*tr.cfg.MaxNumWant)
			}
		}
	}
}

// TestIPv6PerPrefix: an IPv6 host has a whole /64, so rate limits and the per-swarm
// share count the /64, not the address; IPv4 counts the address.
func TestIPv6PerPrefix(t *testing.T) {
	tr := New(Config{RatePerSecond: 10, RateBurst: 5, MaxPeersPerSource: 3})
	allowed := 0
	for i := range 100 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)})
		if tr.Allow(a, t0) {
			allowed++
		}
	}
	if allowed != 5 {
		t.Errorf("100 addresses of one /64: %d allowed, want the burst of 5", allowed)
	}
	if !tr.Allow(netip.MustParseAddr("2001:db8:0:2::1"), t0) {
		t.Error("another /64 was limited")
	}
	h := ih(3)
	stored := func() int { return tr.Stats().Peers }
	for i := range 50 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, byte(i + 1)})
		mustAnnounce(t, tr, t0, a, peerReq(h, 1000, 1, 0))
	}
	if n := stored(); n != 3 {
		t.Errorf("50 addresses of one /64 hold %d peers of the swarm, want 3", n)
	}
	for i := range 10 {
		mustAnnounce(t, tr, t0, netip.MustParseAddr("192.0.2.1"), peerReq(h, uint16(2000+i), 1, 0))
	}
	if n := stored(); n != 6 {
		t.Errorf("after 10 ports of one IPv4 address: %d peers, want 6", n)
	}
	// A stopped peer frees its share.
	a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	stop := peerReq(h, 1000, 1, 0)
	stop.Event = tracker.EventStopped
	mustAnnounce(t, tr, t0, a, stop)
	mustAnnounce(t, tr, t0, netip.MustParseAddr("2001:db8:0:1::99"), peerReq(h, 1000, 1, 0))
	if n := stored(); n != 6 {
		t.Errorf("after a stop and a new peer of the same /64: %d peers, want 6", n)
	}
}
