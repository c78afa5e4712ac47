package peer

import (
	"net/netip"
	"testing"
	"time"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/tracker"
)

// addrs returns n distinct dialable addresses in 127.b.x.y (port 1: nothing listens).
func addrs(b byte, n int) []netip.AddrPort {
	out := make([]netip.AddrPort, n)
	for i := range out {
		out[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, b, byte(i >> 8), byte(i)}), 1)
	}
	return out
}

// TestKnownBound: every peer source is bounded by one maxKnownPeers. Each source, fed 1.5
// times the bound (the user through AddPeers, trackers through addTrackerPeers, incoming
// peers through their extended handshake's port, PEX and DHT answers through learn as onPEX
// and the DHT lookup hand them over), leaves the torrent knowing exactly maxKnownPeers
// addresses; an address the user names at the bound takes the place of one
// learned elsewhere, while a learned address is dropped when the user's fill the set. (The
// old code had five writers: AddPeers and the DHT had no bound, PEX 200, trackers 1,000.)
func TestKnownBound(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "known", []int{1 << 16}, 16<<10, 31)
	feeds := []struct {
		src  peerSource
		feed func(tt *torrent, T *Torrent, aps []netip.AddrPort)
	}{
		{fromUser, func(tt *torrent, T *Torrent, aps []netip.AddrPort) {
			var s []string
			for _, ap := range aps {
				s = append(s, ap.String())
			}
			if err := T.AddPeers(s...); err != nil {
				panic(err) // resolving literal addresses cannot fail
			}
		}},
		{fromTracker, func(tt *torrent, _ *Torrent, aps []netip.AddrPort) {
			var ps []tracker.Peer
			for _, ap := range aps {
				ps = append(ps, tracker.Peer{Addr: ap})
			}
			tt.addTrackerPeers(ps)
		}},
		{fromPEX, func(tt *torrent, _ *Torrent, aps []netip.AddrPort) { tt.learn(fromPEX, aps) }},
		{fromDHT, func(tt *torrent, _ *Torrent, aps []netip.AddrPort) { tt.learn(fromDHT, aps) }},
		{fromIncoming, func(tt *torrent, _ *Torrent, aps []netip.AddrPort) {
			for _, ap := range aps {
				tt.learnListenAddr(&conn{addr: netip.AddrPortFrom(ap.Addr(), 40000)}, wire.ExtendedHandshake{P: int(ap.Port())})
			}
		}},
	}
	for _, f := range feeds {
		t.Run(f.src.String(), func(t *testing.T) {
			sess := newTestSession(t, Settings{MaxConnsPerTorrent: 1})
			tor, err := sess.AddTorrent(mi.Info, TorrentOptions{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			count := func() (n, user int) {
				done := make(chan [2]int)
				tor.t.do(func() {
					u := 0
					for _, s := range tor.t.known {
						if s == fromUser {
							u++
						}
					}
					done <- [2]int{len(tor.t.known), u}
				})
				r := <-done
				return r[0], r[1]
			}
			all := addrs(3, maxKnownPeers*3/2)
			for i := 0; i < len(all); i += 500 {
				batch := all[i:min(i+500, len(all))]
				if f.src == fromUser {
					f.feed(tor.t, tor, batch) // AddPeers queues its work on the loop, in order
				} else {
					tor.t.do(func() { f.feed(tor.t, tor, batch) })
				}
			}
			if n, _ := count(); n != maxKnownPeers {
				t.Fatalf("%v: %d known addresses, want the bound %d", f.src, n, maxKnownPeers)
			}
			// The user names new addresses: they evict learned ones, never each other.
			if err := tor.AddPeers("127.9.0.1:1", "127.9.0.2:1"); err != nil {
				t.Fatal(err)
			}
			n, user := count()
			switch {
			case n != maxKnownPeers:
				t.Fatalf("%d known after the user's addresses, want %d", n, maxKnownPeers)
			case f.src == fromUser && user != maxKnownPeers:
				t.Fatalf("%d of the user's addresses kept, want %d", user, maxKnownPeers)
			case f.src != fromUser && user != 2:
				t.Fatalf("%d of the user's addresses kept, want 2", user)
			}
			tor.t.do(func() { tor.t.learn(fromDHT, addrs(8, 10)) })
			if n, _ := count(); n != maxKnownPeers {
				t.Fatalf("%d known after more DHT peers, want %d", n, maxKnownPeers)
			}
		})
	}
}

// TestSeedForgetsSeed: a seed that meets another seed forgets its address once the
// connection closes (whichever side closed it), instead of dialling it again every second.
func TestSeedForgetsSeed(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "seeds", []int{1 << 16}, 16<<10, 33)
	a := newTestSessionAt(t, "127.0.0.1", Settings{})
	b := newTestSessionAt(t, "127.0.0.2", Settings{})
	ta, err := a.AddTorrent(mi.Info, TorrentOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	bAddr := netip.MustParseAddrPort(b.Addr().String())
	if err := ta.AddPeers(bAddr.String()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		closed := 0
		for _, n := range ta.Stats().Closed {
			closed += n
		}
		if closed > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the two seeds never closed their connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	known := make(chan bool)
	ta.t.do(func() { _, ok := ta.t.known[bAddr]; known <- ok })
	if <-known {
		t.Errorf("seed still knows seed %v after their connection closed: it will dial it again (%+v)", bAddr, ta.Stats())
	}
}
