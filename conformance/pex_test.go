package conformance

import (
	"net/netip"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
)

// In both PEX tests nobody has the data: leechers stay connected, where seeds would
// part, so the connections PEX leads to can be seen.

// waitLTPeer waits until libtorrent has a connection that ok accepts.
func waitLTPeer(t *testing.T, lt *thirdparty.LT, d time.Duration, what string, ok func(netip.AddrPort) bool) {
	t.Helper()
	_, err := lt.WaitStatus(ctxFor(t, d), func(st thirdparty.LTStatus) bool {
		for _, p := range st.Peers {
			if a, err := netip.ParseAddrPort(p.Addr); err == nil && ok(netip.AddrPortFrom(a.Addr().Unmap(), a.Port())) {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("libtorrent at %s never connected to %s: %v (peers %+v)", lt.Addr(), what, err, lt.Status().Peers)
	}
}

// TestPEXFromLibtorrent: our session knows only a libtorrent peer with ut_pex on; from
// its PEX message it learns of a second libtorrent peer (which has PEX off and knows only
// the first) and connects to it.
func TestPEXFromLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makePaddedTorrent(t, dir, "pexin", engineFiles, 64<<10)
	hub := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:  testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: torrentPath,
		PEX:     true,
	})
	other := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:  testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
		Torrent: torrentPath,
		Peers:   []string{hub.Addr()},
	})
	ours := startSession(t, "127.0.0.1", peer.Settings{})
	tor := addTorrent(t, ours, mi, t.TempDir(), hub.Addr())
	// The only way to the other peer is the address the hub's ut_pex gives us.
	waitLTPeer(t, other, 30*time.Second, "our session (127.0.0.1)", func(a netip.AddrPort) bool {
		return a.Addr() == netip.MustParseAddr("127.0.0.1")
	})
	if n := tor.Stats().Peers; n < 2 {
		t.Errorf("our session has %d peers, want the hub and the other", n)
	}
}

// TestPEXToLibtorrent: a libtorrent peer with ut_pex on knows only our session; our PEX
// message names a second libtorrent peer (PEX off, knows only us), and libtorrent
// connects to it at the listen address we sent.
func TestPEXToLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makePaddedTorrent(t, dir, "pexout", engineFiles, 64<<10)
	// One message a second would trip libtorrent's flood check (more than 6 a minute),
	// but we send only when the peer set changed: here once or twice.
	ours := startSession(t, "127.0.0.1", peer.Settings{PEXInterval: time.Second})
	addTorrent(t, ours, mi, t.TempDir())
	other := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:  testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
		Torrent: torrentPath,
		Peers:   []string{ours.Addr().String()},
	})
	learner := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:  testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: torrentPath,
		PEX:     true,
		Peers:   []string{ours.Addr().String()},
	})
	want := netip.MustParseAddrPort(other.Addr())
	waitLTPeer(t, learner, 30*time.Second, other.Addr(), func(a netip.AddrPort) bool {
		return a == want
	})
}
