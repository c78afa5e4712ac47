package peer

import (
	"net"
	"testing"
	"time"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/bencode"
)

// TestUnknownExtensionsTolerated: a peer that sends unknown BEP 10 keys, an extension id we
// never advertised, and a message id no BEP defines is still served (BEP 3 and BEP 10 say to
// ignore what one does not understand; new extensions depend on it).
func TestUnknownExtensionsTolerated(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "legacy", []int{200_000}, 32<<10, 7)
	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", seeder.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	h := wire.Handshake{InfoHash: mi.InfoHash()}
	copy(h.PeerID[:], "-XX0001-legacytest00")
	h.Reserved.SetExtended(true)
	h.Reserved.SetFast(true)
	h.Reserved[0] = 0x80 // a reserved bit nobody defined
	if err := wire.WriteHandshake(nc, h); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.ReadHandshake(nc); err != nil {
		t.Fatal(err)
	}
	ext, err := bencode.Marshal(map[string]any{
		"m":             map[string]any{"ut_metadata": 3, "x_future": 9},
		"reqq":          50,
		"unknown_key":   []any{"list", 1},
		"complete_ago":  -1,
		"nested_future": map[string]any{"a": "b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	out = wire.AppendMessage(out, wire.Message{Type: wire.Extended, ExtID: 0, Payload: ext})
	out = wire.AppendMessage(out, wire.Message{Type: wire.Extended, ExtID: 77, Payload: []byte("d3:fooi1ee")})
	out = wire.AppendMessage(out, wire.Message{Type: wire.MessageType(0x42), Payload: []byte{1, 2, 3}})
	out = wire.AppendMessage(out, wire.Message{Type: wire.HaveNone})
	out = wire.AppendMessage(out, wire.Message{Type: wire.Interested})
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(nc, 0)
	requested := false
	for {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("seeder dropped us after unknown messages: %v", err)
		}
		switch m.Type {
		case wire.Unchoke:
			if !requested {
				req := wire.AppendMessage(nil, wire.Message{Type: wire.Request, Index: 1, Begin: 0, Length: 16 << 10})
				if _, err := nc.Write(req); err != nil {
					t.Fatal(err)
				}
				requested = true
			}
		case wire.Piece:
			if m.Index != 1 || m.Begin != 0 || len(m.Payload) != 16<<10 {
				t.Fatalf("unexpected piece %d+%d len %d", m.Index, m.Begin, len(m.Payload))
			}
			return
		}
	}
}
