package utp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/speedbt/btt/internal/testutil"
)

func TestDecodeLibtorrentVectors(t *testing.T) {
	tests := []struct {
		file       string
		typ        Type
		connID     uint16
		ts, tsDiff uint32
		wnd        uint32
		seq, ack   uint16
		exts       []uint8
		payload    int
	}{
		{"syn.bin", TypeSyn, 46211, 3061218532, 0, 0, 15584, 0, nil, 0},
		{"state-syn-ack.bin", TypeState, 46211, 3061218692, 133, 1048576, 3439, 15584, nil, 0},
		{"data-first.bin", TypeData, 46212, 3061218717, 9, 1048576, 15585, 3438, nil, 68},
		{"state.bin", TypeState, 46211, 3061218731, 13, 1048576, 3439, 15585, nil, 0},
		{"data-small.bin", TypeData, 46211, 3061218779, 13, 1048576, 3439, 15585, nil, 295},
		{"data-full.bin", TypeData, 46211, 3061219086, 15, 1048576, 3444, 15586, nil, 990},
		{"fin-ext3.bin", TypeFin, 46212, 0, 7, 1048576, 15899, 10744, []uint8{3}, 0},
		{"state-ext3.bin", TypeState, 46212, 0, 16, 1048576, 15899, 10745, []uint8{3}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b := testutil.Vector(t, "utp/libtorrent-2.0.8/"+tt.file)
			if !IsPacket(b) {
				t.Fatal("IsPacket = false")
			}
			var h Header
			payload, err := h.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.Type != tt.typ || h.ConnID != tt.connID || h.TimestampDiff != tt.tsDiff ||
				h.WindowSize != tt.wnd || h.Seq != tt.seq || h.Ack != tt.ack || len(payload) != tt.payload {
				t.Errorf("got %+v payload %d", h, len(payload))
			}
			if tt.ts != 0 && h.Timestamp != tt.ts {
				t.Errorf("timestamp %d, want %d", h.Timestamp, tt.ts)
			}
			if len(h.Extensions) != len(tt.exts) {
				t.Fatalf("extensions %v, want types %v", h.Extensions, tt.exts)
			}
			for i, e := range h.Extensions {
				if e.Type != tt.exts[i] {
					t.Errorf("extension %d type %d, want %d", i, e.Type, tt.exts[i])
				}
			}
			if tt.payload >= 68 && !bytes.HasPrefix(payload, []byte("\x13BitTorrent protocol")) && tt.file != "data-full.bin" {
				t.Errorf("payload does not start with the BitTorrent handshake: %q", payload[:20])
			}
			enc, err := h.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := b[:len(b)-len(payload)]; !bytes.Equal(enc, want) {
				t.Errorf("re-encoded header\n got %x\nwant %x", enc, want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := []byte{0x21, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", valid[:19]},
		{"version 2", with(func(b []byte) []byte { b[0] = 0x22; return b })},
		{"type 5", with(func(b []byte) []byte { b[0] = 0x51; return b })},
		{"dht dict", []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")},
		{"ext header missing", with(func(b []byte) []byte { b[1] = 1; return b })},
		{"ext truncated", with(func(b []byte) []byte { b[1] = 1; return append(b, 0, 8, 1, 2, 3) })},
		{"sack empty", with(func(b []byte) []byte { b[1] = 1; return append(b, 0, 0) })},
		{"too many extensions", with(func(b []byte) []byte {
			b[1] = 2
			for range 9 {
				b = append(b, 2, 0)
			}
			return b
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Header
			if _, err := h.Decode(tt.b); !errors.Is(err, ErrMalformed) {
				t.Errorf("Decode = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestSelectiveAckRoundTrip(t *testing.T) {
	h := Header{Type: TypeState, ConnID: 7, Seq: 65535, Ack: 65534,
		Extensions: []Extension{{Type: 3, Data: []byte{0, 0, 0, 6}}, {Type: ExtSelectiveAck, Data: []byte{0x05, 0, 0, 0x80}}}}
	b, err := h.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "payload"...)
	var g Header
	p, err := g.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(p) != "payload" || !bytes.Equal(g.SelectiveAck(), []byte{0x05, 0, 0, 0x80}) || g.Seq != 65535 {
		t.Errorf("got %+v %q", g, p)
	}
	if _, err := (&Header{Extensions: []Extension{{Type: 1, Data: []byte{}}}}).Append(nil); err == nil {
		t.Error("Append accepted an empty selective ack")
	}
}

// TestShortSelectiveAck: libtorrent sends selective acks of (span+7)/8 bytes, not a
// multiple of 4 as BEP 29 asks; such a packet (here a 1-byte mask on a DATA packet, as
// libtorrent piggy-backs it on a request) must decode, ack included.
func TestShortSelectiveAck(t *testing.T) {
	for n := 1; n <= 32; n++ {
		mask := make([]byte, n)
		mask[n-1] = 0x80
		h := Header{Type: TypeData, ConnID: 9, Seq: 100, Ack: 200, Extensions: []Extension{{Type: ExtSelectiveAck, Data: mask}}}
		b, err := h.Append(nil)
		if err != nil {
			t.Fatalf("%d bytes: Append: %v", n, err)
		}
		var g Header
		p, err := g.Decode(append(b, "req"...))
		if err != nil {
			t.Fatalf("%d bytes: Decode: %v", n, err)
		}
		if string(p) != "req" || g.Ack != 200 || !bytes.Equal(g.SelectiveAck(), mask) {
			t.Errorf("%d bytes: got %+v %q", n, g, p)
		}
	}
}

func TestSeqLess(t *testing.T) {
	tests := []struct {
		a, b uint16
		want bool
	}{
		{1, 2, true}, {2, 1, false}, {65535, 0, true}, {0, 65535, false}, {65000, 100, true}, {100, 65000, false}, {5, 5, false},
	}
	for _, tt := range tests {
		if got := seqLess(tt.a, tt.b); got != tt.want {
			t.Errorf("seqLess(%d, %d) = %v", tt.a, tt.b, got)
		}
	}
}

func TestRing(t *testing.T) {
	var r ring
	r.write(nil) // an empty DATA packet before any data
	if r.read(make([]byte, 1)) != 0 {
		t.Fatal("read from an empty ring")
	}
	var want []byte
	got := make([]byte, 0)
	buf := make([]byte, 7000)
	for i := range 200 {
		p := bytes.Repeat([]byte{byte(i)}, (i*37)%3000+1)
		r.write(p)
		want = append(want, p...)
		if i%3 == 0 {
			n := r.read(buf[:(i*53)%7000])
			got = append(got, buf[:n]...)
		}
	}
	for r.len() > 0 {
		n := r.read(buf)
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ring returned %d bytes, want %d (equal prefix %v)", len(got), len(want), bytes.HasPrefix(want, got))
	}
}
