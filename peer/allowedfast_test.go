package peer

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/speedbt/btt/wire"
)

// dialFast connects to sess over loopback as a bare BEP 6 peer for mi and returns the
// connection and a reader positioned after the handshake.
func dialFast(t *testing.T, addr string, ih [20]byte) (net.Conn, *wire.Reader) {
	t.Helper()
	return dialFastAs(t, addr, ih, "-XX0001-allowedfast0")
}

// dialFastAs is dialFast with the peer ID id (20 bytes), for several peers at once.
func dialFastAs(t *testing.T, addr string, ih [20]byte, id string) (net.Conn, *wire.Reader) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	h := wire.Handshake{InfoHash: ih}
	copy(h.PeerID[:], id)
	h.Reserved.SetFast(true)
	if err := wire.WriteHandshake(nc, h); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.ReadHandshake(nc); err != nil {
		t.Fatal(err)
	}
	return nc, wire.NewReader(nc, 0)
}

func send(t *testing.T, nc net.Conn, ms ...wire.Message) {
	t.Helper()
	var out []byte
	for _, m := range ms {
		out = wire.AppendMessage(out, m)
	}
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
}

// TestAllowedFastGranted: a seeder grants a fast peer it chokes its BEP 6 allowed-fast set
// right after its bitfield, serves a request for a granted piece while choking it, and
// rejects a request for any other piece.
func TestAllowedFastGranted(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "af", []int{40 * 32 << 10}, 32<<10, 11)
	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	nc, r := dialFast(t, seeder.Addr().String(), mi.InfoHash())
	// Never interested: the seeder has no reason to unchoke us.
	send(t, nc, wire.Message{Type: wire.HaveNone})
	want := wire.AllowedFastSet(netip.MustParseAddr("127.0.0.1"), mi.InfoHash(), mi.Info.NumPieces(), 10)
	var got []uint32
	for len(got) < len(want) {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("after %d allowed-fast messages: %v", len(got), err)
		}
		switch m.Type {
		case wire.AllowedFast:
			got = append(got, m.Index)
		case wire.Unchoke:
			t.Fatal("unchoked a peer that is not interested")
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("allowed-fast set %v, want %v", got, want)
	}
	other := uint32(0)
	for slices.Contains(want, other) {
		other++
	}
	send(t, nc,
		wire.Message{Type: wire.Request, Index: want[0], Begin: 16 << 10, Length: 16 << 10},
		wire.Message{Type: wire.Request, Index: other, Begin: 0, Length: 16 << 10})
	var served, rejected bool
	for !served || !rejected {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("served %v rejected %v: %v", served, rejected, err)
		}
		switch m.Type {
		case wire.Piece:
			if m.Index != want[0] || m.Begin != 16<<10 || len(m.Payload) != 16<<10 {
				t.Fatalf("served %d+%d len %d", m.Index, m.Begin, len(m.Payload))
			}
			served = true
		case wire.Reject:
			if m.Index != other {
				t.Fatalf("rejected the allowed-fast piece %d", m.Index)
			}
			rejected = true
		case wire.Unchoke:
			t.Fatal("unchoked a peer that is not interested")
		}
	}
}

// TestAllowedFastUsed: a seed that never unchokes us but grants one allowed-fast piece gets
// requests for that piece's blocks, and for no other piece.
func TestAllowedFastUsed(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "au", []int{8 * 32 << 10}, 32<<10, 12)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	leecher := newTestSession(t, Settings{})
	if _, err := leecher.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir(), Peers: []string{ln.Addr().String()}}); err != nil {
		t.Fatal(err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(15 * time.Second))
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := wire.ReadHandshake(nc); err != nil {
		t.Fatal(err)
	}
	h := wire.Handshake{InfoHash: mi.InfoHash()}
	copy(h.PeerID[:], "-XX0001-allowedfast1")
	h.Reserved.SetFast(true)
	if err := wire.WriteHandshake(nc, h); err != nil {
		t.Fatal(err)
	}
	const granted = 5
	send(t, nc, wire.Message{Type: wire.HaveAll}, wire.Message{Type: wire.AllowedFast, Index: granted})
	r := wire.NewReader(nc, 0)
	blocks := map[uint32]bool{}
	for len(blocks) < 2 { // a 32 KiB piece is two blocks
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("after requests for %v: %v", blocks, err)
		}
		if m.Type != wire.Request {
			continue
		}
		if m.Index != granted {
			t.Fatalf("requested piece %d while choked; only %d is allowed fast", m.Index, granted)
		}
		blocks[m.Begin] = true
	}
}
