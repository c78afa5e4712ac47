package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/speedbt/btt/internal/testutil"
)

func TestHandshakeVectors(t *testing.T) {
	infoHash := [20]byte(unhex(t, "74a323f732e746deac9e29e6e8428d78a68b92cd"))
	tests := []struct {
		file                string
		extended, fast, dht bool
		peerIDPrefix        string
	}{
		{"bt/libtorrent-2.0.8/handshake.bin", true, true, true, "-LT2080-"},
		{"bt/transmission-3.00/handshake.bin", true, true, false, "-TR3000-"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := testutil.Vector(t, tt.file)
			h, err := ParseHandshake(raw)
			if err != nil {
				t.Fatal(err)
			}
			if h.InfoHash != infoHash {
				t.Errorf("info-hash %x", h.InfoHash)
			}
			if got := h.Reserved.SupportsExtended(); got != tt.extended {
				t.Errorf("extended = %v", got)
			}
			if got := h.Reserved.SupportsFast(); got != tt.fast {
				t.Errorf("fast = %v", got)
			}
			if got := h.Reserved.SupportsDHT(); got != tt.dht {
				t.Errorf("dht = %v", got)
			}
			if !bytes.HasPrefix(h.PeerID[:], []byte(tt.peerIDPrefix)) {
				t.Errorf("peer id %q", h.PeerID)
			}
			if got := AppendHandshake(nil, h); !bytes.Equal(got, raw) {
				t.Errorf("re-encoded %x\nwant         %x", got, raw)
			}
			var w bytes.Buffer
			if err := WriteHandshake(&w, h); err != nil || !bytes.Equal(w.Bytes(), raw) {
				t.Errorf("WriteHandshake: %v", err)
			}
			if rh, err := ReadHandshake(bytes.NewReader(raw)); err != nil || rh != h {
				t.Errorf("ReadHandshake = %+v, %v", rh, err)
			}

			// The listener's split form.
			r := bytes.NewReader(raw)
			head, err := ReadHandshakeHead(r)
			if err != nil || head.InfoHash != infoHash || head.Reserved != h.Reserved || head.PeerID != [20]byte{} {
				t.Fatalf("ReadHandshakeHead = %+v, %v", head, err)
			}
			if r.Len() != 20 {
				t.Errorf("head read left %d bytes, want 20", r.Len())
			}
			id, err := ReadPeerID(r)
			if err != nil || id != h.PeerID {
				t.Errorf("ReadPeerID = %q, %v", id, err)
			}
		})
	}
}

func TestReservedSetters(t *testing.T) {
	var r Reserved
	r.SetExtended(true)
	r.SetFast(true)
	r.SetDHT(true)
	// Exactly libtorrent's reserved bytes from the vector.
	if want := (Reserved{0, 0, 0, 0, 0, 0x10, 0, 0x05}); r != want {
		t.Errorf("all set = %x, want %x", r, want)
	}
	r.SetDHT(false)
	if r.SupportsDHT() || !r.SupportsFast() || !r.SupportsExtended() {
		t.Errorf("after clearing DHT: %x", r)
	}
	r.SetFast(false)
	r.SetExtended(false)
	if r != (Reserved{}) {
		t.Errorf("all cleared = %x", r)
	}
}

func TestBadHandshakes(t *testing.T) {
	good := AppendHandshake(nil, Handshake{InfoHash: [20]byte{1}, PeerID: [20]byte{2}})
	mutate := func(i int, b byte) []byte {
		c := append([]byte{}, good...)
		c[i] = b
		return c
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"wrong length byte", mutate(0, 18), ErrBadHandshake},
		{"wrong protocol", mutate(5, 'X'), ErrBadHandshake},
		{"http", []byte("GET /announce HTTP/1.1\r\nHost: x\r\n\r\n"), ErrBadHandshake},
		{"cut in protocol", good[:10], io.ErrUnexpectedEOF},
		{"cut in info-hash", good[:30], io.ErrUnexpectedEOF},
		{"cut in peer id", good[:60], io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadHandshake(bytes.NewReader(tt.in)); !errors.Is(err, tt.want) {
				t.Errorf("ReadHandshake: %v, want %v", err, tt.want)
			}
			want := tt.want
			if want == io.EOF {
				want = io.ErrUnexpectedEOF // a slice cannot end "cleanly"
			}
			if _, err := ParseHandshake(tt.in); !errors.Is(err, want) {
				t.Errorf("ParseHandshake: %v, want %v", err, want)
			}
		})
	}
}
