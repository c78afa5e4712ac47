package peer

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/speedbt/btt/wire"
)

// expect reads r until a message of type want, failing on any type in forbidden first.
func expect(t *testing.T, who string, r *wire.Reader, want wire.MessageType, forbidden ...wire.MessageType) wire.Message {
	t.Helper()
	for {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("%s: waiting for %v: %v", who, want, err)
		}
		if m.Type == want {
			return m
		}
		if slices.Contains(forbidden, m.Type) {
			t.Fatalf("%s: %v before %v", who, m.Type, want)
		}
	}
}

// TestEventsFillFreedSlots: with the rechoke timer out of the picture (an hour), events
// alone fill the slots: interested peers are unchoked while slots are free, a peer that
// arrives when they are full waits, and when a served peer loses interest it is choked and
// its slot goes to the waiting peer at once. (The old loop re-ranked only when a slot was
// already free, so the waiting peer sat choked until the next rechoke.)
func TestEventsFillFreedSlots(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "fill", []int{40 * 32 << 10}, 32<<10, 21)
	// One regular slot and the optimistic one.
	seeder := newTestSession(t, Settings{UploadSlots: 1, RechokeInterval: time.Hour})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	addr, ih := seeder.Addr().String(), mi.InfoHash()
	a, ra := dialFastAs(t, addr, ih, "-XX0001-fillslots-A0")
	b, rb := dialFastAs(t, addr, ih, "-XX0001-fillslots-B0")
	c, rc := dialFastAs(t, addr, ih, "-XX0001-fillslots-C0")
	send(t, a, wire.Message{Type: wire.HaveNone}, wire.Message{Type: wire.Interested})
	expect(t, "A", ra, wire.Unchoke, wire.Choke)
	send(t, b, wire.Message{Type: wire.HaveNone}, wire.Message{Type: wire.Interested})
	expect(t, "B", rb, wire.Unchoke, wire.Choke)

	// C asks for a piece outside its allowed-fast set: choked, it hears a reject.
	fast := wire.AllowedFastSet(netip.MustParseAddr("127.0.0.1"), ih, mi.Info.NumPieces(), 10)
	other := uint32(0)
	for slices.Contains(fast, other) {
		other++
	}
	send(t, c, wire.Message{Type: wire.HaveNone}, wire.Message{Type: wire.Interested},
		wire.Message{Type: wire.Request, Index: other, Length: 16 << 10})
	if m := expect(t, "C", rc, wire.Reject, wire.Unchoke); m.Index != other {
		t.Fatalf("C: reject of piece %d, asked for %d", m.Index, other)
	}

	send(t, a, wire.Message{Type: wire.NotInterested})
	expect(t, "A", ra, wire.Choke)
	expect(t, "C", rc, wire.Unchoke)
	// B kept its slot throughout: its request is served.
	send(t, b, wire.Message{Type: wire.Request, Index: other, Length: 16 << 10})
	expect(t, "B", rb, wire.Piece, wire.Choke, wire.Reject)
}
