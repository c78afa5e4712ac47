package peer

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestPEXDiff(t *testing.T) {
	many := map[netip.AddrPort]byte{}
	for i := range 70 {
		many[ap(fmt.Sprintf("10.0.0.%d:6881", i))] = 0
		many[ap(fmt.Sprintf("[2001:db8::%x]:6881", i))] = 0
	}
	tests := []struct {
		name    string
		told    []string
		current map[netip.AddrPort]byte
		self    string
		added   int // entries of Added plus Added6
		dropped int
		told2   int // told's size afterwards
	}{
		{name: "nothing", current: nil, self: "1.1.1.1:1"},
		{name: "first", current: map[netip.AddrPort]byte{ap("1.1.1.1:1"): 0, ap("2.2.2.2:2"): wire.PEXSeed, ap("[::2]:2"): 0}, self: "1.1.1.1:1", added: 2, told2: 2},
		{name: "unchanged", told: []string{"2.2.2.2:2"}, current: map[netip.AddrPort]byte{ap("2.2.2.2:2"): 0}, self: "9.9.9.9:9", told2: 1},
		{name: "gone", told: []string{"2.2.2.2:2", "[::2]:2"}, current: map[netip.AddrPort]byte{ap("3.3.3.3:3"): 0}, self: "9.9.9.9:9", added: 1, dropped: 2, told2: 1},
		{name: "self never told", told: []string{"1.1.1.1:1"}, current: map[netip.AddrPort]byte{ap("1.1.1.1:1"): 0}, self: "1.1.1.1:1", dropped: 1},
		{name: "capped per list", current: many, self: "9.9.9.9:9", added: 2 * wire.MaxPEXPeers, told2: 2 * wire.MaxPEXPeers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			told := map[netip.AddrPort]struct{}{}
			for _, a := range tt.told {
				told[ap(a)] = struct{}{}
			}
			msg := pexDiff(told, tt.current, ap(tt.self))
			if n := len(msg.Added) + len(msg.Added6); n != tt.added {
				t.Errorf("added %d, want %d (%+v)", n, tt.added, msg)
			}
			if n := len(msg.Dropped) + len(msg.Dropped6); n != tt.dropped {
				t.Errorf("dropped %d, want %d (%+v)", n, tt.dropped, msg)
			}
			if len(told) != tt.told2 {
				t.Errorf("told %d afterwards, want %d", len(told), tt.told2)
			}
			for _, p := range msg.Added {
				if !p.Addr.Addr().Is4() || p.Flags != tt.current[p.Addr] {
					t.Errorf("added %v flags %#x", p.Addr, p.Flags)
				}
			}
			for _, p := range msg.Added6 {
				if p.Addr.Addr().Is4() {
					t.Errorf("IPv4 %v in added6", p.Addr)
				}
			}
			if len(msg.Added) > wire.MaxPEXPeers || len(msg.Added6) > wire.MaxPEXPeers {
				t.Errorf("lists over BEP 11's limit: %d, %d", len(msg.Added), len(msg.Added6))
			}
			// The message decodes to what it says.
			got, err := wire.ParsePEX(wire.AppendPEX(nil, msg))
			if err != nil || len(got.Added) != len(msg.Added) || len(got.Dropped6) != len(msg.Dropped6) {
				t.Errorf("round trip: %+v, %v", got, err)
			}
		})
	}
	// What did not fit is sent next time.
	told := map[netip.AddrPort]struct{}{}
	pexDiff(told, many, ap("9.9.9.9:9"))
	if msg := pexDiff(told, many, ap("9.9.9.9:9")); len(msg.Added)+len(msg.Added6) != 40 {
		t.Errorf("second message added %d, want the 40 left", len(msg.Added)+len(msg.Added6))
	}
}

// connectedTo reports whether tor has a connection to the peer with id.
func connectedTo(tor *Torrent, id [20]byte) bool {
	res := make(chan bool, 1)
	tor.t.do(func() {
		ok := false
		for _, c := range tor.t.conns {
			ok = ok || c.peerID == id
		}
		res <- ok
	})
	select {
	case ok := <-res:
		return ok
	case <-time.After(5 * time.Second):
		return false
	}
}

func knows(tor *Torrent, a netip.AddrPort) bool {
	res := make(chan bool, 1)
	tor.t.do(func() { _, ok := tor.t.known[a]; res <- ok })
	return <-res
}

// TestPEXFindsPeers: B and C each know only A; A's ut_pex messages tell each about the
// other, and they connect directly.
func TestPEXFindsPeers(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "pex", []int{1 << 20}, 32<<10, 3)
	st := Settings{PEXInterval: time.Second}
	var sess []*Session
	var tors []*Torrent
	for i, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		s := newTestSessionAt(t, ip, st)
		var peers []string
		if i > 0 {
			peers = []string{sess[0].Addr().String()}
		}
		// Nobody has the data: leechers stay connected, where seeds would part.
		tor, err := s.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir(), Peers: peers})
		if err != nil {
			t.Fatal(err)
		}
		sess = append(sess, s)
		tors = append(tors, tor)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !connectedTo(tors[1], sess[2].PeerID()) || !connectedTo(tors[2], sess[1].PeerID()) {
		select {
		case <-ctx.Done():
			t.Fatalf("B and C never connected: B %+v, C %+v", tors[1].Stats(), tors[2].Stats())
		case <-time.After(100 * time.Millisecond):
		}
	}
	for i, tor := range tors {
		if n := tor.Stats().Peers; n != 2 {
			t.Errorf("session %d has %d peers, want 2", i, n)
		}
	}
}

// pexPeerConn is a hand-made peer speaking to a session: it advertises ut_pex under id 7
// and port 4242.
func pexPeerConn(t *testing.T, s *Session, ih [20]byte) (net.Conn, *wire.Reader, wire.ExtendedHandshake) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	h := wire.Handshake{InfoHash: ih}
	copy(h.PeerID[:], "-XX0001-pexpexpexpex")
	h.Reserved.SetExtended(true)
	if err := wire.WriteHandshake(nc, h); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.ReadHandshake(nc); err != nil {
		t.Fatal(err)
	}
	ext := wire.ExtendedHandshake{M: map[string]int{wire.ExtPEX: 7}, P: 4242}
	if _, err := nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, Payload: wire.AppendExtendedHandshake(nil, ext)})); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(nc, 0)
	for {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == wire.Extended && m.ExtID == wire.ExtHandshakeID {
			eh, err := wire.ParseExtendedHandshake(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			return nc, r, eh
		}
	}
}

func sendPEX(t *testing.T, nc net.Conn, id int, payload []byte) {
	t.Helper()
	if _, err := nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: uint8(id), Payload: payload})); err != nil {
		t.Fatal(err)
	}
}

// TestPEXWire: against a hand-made peer, a session advertises ut_pex, learns the addresses
// the peer sends (IPv4 and IPv6, at most BEP 11's 50 per list), sends the listen address
// of another connected peer, and drops a peer whose ut_pex is malformed.
func TestPEXWire(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "pexw", []int{100_000}, 32<<10, 4)
	st := Settings{PEXInterval: time.Second}
	a := newTestSessionAt(t, "127.0.0.1", st)
	ta, err := a.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b := newTestSessionAt(t, "127.0.0.2", st)
	if _, err := b.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir(), Peers: []string{a.Addr().String()}}); err != nil {
		t.Fatal(err)
	}

	nc, r, eh := pexPeerConn(t, a, mi.InfoHash())
	id := eh.M[wire.ExtPEX]
	if id == 0 {
		t.Fatalf("no ut_pex in the extended handshake: %v", eh.M)
	}
	var msg wire.PEX
	for i := range 60 {
		msg.Added = append(msg.Added, wire.PEXPeer{Addr: ap(fmt.Sprintf("127.0.1.%d:%d", i, 1000+i))})
	}
	msg.Added6 = []wire.PEXPeer{{Addr: ap("[::1]:1999")}, {Addr: ap("[::]:1")}}
	sendPEX(t, nc, id, wire.AppendPEX(nil, msg))

	// Its answer within two intervals names B by its listen address.
	bAddr := netip.MustParseAddrPort(b.Addr().String())
	for {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("no ut_pex from the session: %v", err)
		}
		if m.Type != wire.Extended || m.ExtID != 7 {
			continue
		}
		got, err := wire.ParsePEX(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(got.Added, func(p wire.PEXPeer) bool { return p.Addr == bAddr }) {
			t.Fatalf("ut_pex %+v does not name B at %v", got, bAddr)
		}
		if slices.ContainsFunc(got.Added, func(p wire.PEXPeer) bool { return p.Addr.Port() == 4242 }) {
			t.Fatalf("ut_pex %+v names its recipient", got)
		}
		break
	}
	if !knows(ta, ap("127.0.1.0:1000")) || !knows(ta, ap("127.0.1.49:1049")) || !knows(ta, ap("[::1]:1999")) {
		t.Error("addresses from ut_pex not learned")
	}
	if knows(ta, ap("127.0.1.50:1050")) {
		t.Error("learned more than 50 addresses from one list")
	}
	if knows(ta, ap("[::]:1")) {
		t.Error("learned the unspecified address")
	}

	sendPEX(t, nc, id, []byte("d5:added3:abce"))
	for {
		if _, err := r.ReadMessage(); err != nil {
			break // dropped
		}
	}
}

// TestPEXPrivate: BEP 27: a private torrent neither advertises ut_pex nor learns from it.
func TestPEXPrivate(t *testing.T) {
	dir := t.TempDir()
	pub := writeTree(t, dir, "priv", []int{100_000}, 32<<10, 5)
	mi, err := metainfo.Create(context.Background(), filepath.Join(dir, "priv"), metainfo.CreateOptions{PieceLength: pub.Info.PieceLength, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if !mi.Info.Private {
		t.Fatal("torrent is not private")
	}
	a := newTestSessionAt(t, "127.0.0.1", Settings{PEXInterval: time.Second})
	ta, err := a.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	nc, _, eh := pexPeerConn(t, a, mi.InfoHash())
	if id, ok := eh.M[wire.ExtPEX]; ok {
		t.Errorf("private torrent advertises ut_pex as %d", id)
	}
	sendPEX(t, nc, extIDPEX, wire.AppendPEX(nil, wire.PEX{Added: []wire.PEXPeer{{Addr: ap("127.0.1.1:1001")}}}))
	// A message sent after the PEX one is handled after it: once the loop has seen it,
	// the PEX message has been too.
	nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Interested}))
	deadline := time.Now().Add(5 * time.Second)
	for !peerInterested(ta) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if knows(ta, ap("127.0.1.1:1001")) {
		t.Error("private torrent learned an address from ut_pex")
	}
}

func peerInterested(tor *Torrent) bool {
	res := make(chan bool, 1)
	tor.t.do(func() {
		ok := false
		for _, c := range tor.t.conns {
			ok = ok || c.ls.peerInterested
		}
		res <- ok
	})
	return <-res
}

// BenchmarkPEXDiff: one peer's message at a full torrent (80 connections), half of which
// changed since the last message.
func BenchmarkPEXDiff(b *testing.B) {
	current := map[netip.AddrPort]byte{}
	for i := range 80 {
		current[ap(fmt.Sprintf("10.0.%d.%d:6881", i/200, i%200))] = 0
	}
	told := map[netip.AddrPort]struct{}{}
	pexDiff(told, current, ap("9.9.9.9:9"))
	for i := range 40 {
		delete(current, ap(fmt.Sprintf("10.0.0.%d:6881", i)))
		current[ap(fmt.Sprintf("10.1.0.%d:6881", i))] = 0
	}
	b.ReportAllocs()
	for b.Loop() {
		t := maps.Clone(told)
		msg := pexDiff(t, current, ap("9.9.9.9:9"))
		wire.AppendPEX(nil, msg)
	}
}
