package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/speedbt/btt/internal/testutil"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameMessage compares two messages field by field, payload by content.
func sameMessage(a, b Message) bool {
	return a.Type == b.Type && a.Index == b.Index && a.Begin == b.Begin && a.Length == b.Length &&
		a.Port == b.Port && a.ExtID == b.ExtID && bytes.Equal(a.Payload, b.Payload)
}

// TestVectors decodes every fixed-layout peer-wire vector captured from libtorrent and
// Transmission, checks the decoded fields against INDEX.md, and re-encodes it.
func TestVectors(t *testing.T) {
	const lt, tr = "bt/libtorrent-2.0.8/", "bt/transmission-3.00/"
	tests := []struct {
		file string
		want Message
	}{
		{lt + "choke.bin", Message{Type: Choke}},
		{lt + "unchoke.bin", Message{Type: Unchoke}},
		{tr + "unchoke.bin", Message{Type: Unchoke}},
		{lt + "interested.bin", Message{Type: Interested}},
		{tr + "interested.bin", Message{Type: Interested}},
		{lt + "not_interested.bin", Message{Type: NotInterested}},
		{tr + "not_interested.bin", Message{Type: NotInterested}},
		{lt + "have.bin", Message{Type: Have, Index: 0x21}},
		{tr + "have.bin", Message{Type: Have, Index: 0x23}},
		{lt + "have_all.bin", Message{Type: HaveAll}},
		{tr + "have_all.bin", Message{Type: HaveAll}},
		{lt + "have_none.bin", Message{Type: HaveNone}},
		{tr + "have_none.bin", Message{Type: HaveNone}},
		{lt + "request.bin", Message{Type: Request, Index: 0x21, Begin: 0, Length: 0x4000}},
		{tr + "request.bin", Message{Type: Request, Index: 0x23, Begin: 0, Length: 0x4000}},
		{lt + "reject_request.bin", Message{Type: Reject, Index: 1, Begin: 0, Length: 0x4000}},
		{tr + "reject_request.bin", Message{Type: Reject, Index: 0, Begin: 0, Length: 0x4000}},
		{lt + "allowed_fast.bin", Message{Type: AllowedFast, Index: 0}},
		{lt + "port.bin", Message{Type: Port, Port: 53303}},
		{lt + "bitfield-partial.bin", Message{Type: Bitfield, Payload: unhex(t, "f800488b70")}},
		{lt + "ext-upload_only.bin", Message{Type: Extended, ExtID: 3, Payload: []byte{0}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := testutil.Vector(t, tt.file)
			m, n, err := ParseMessage(raw, DefaultMaxMessageLen)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if n != len(raw) {
				t.Errorf("consumed %d of %d bytes", n, len(raw))
			}
			if !sameMessage(m, tt.want) {
				t.Errorf("decoded %+v, want %+v", m, tt.want)
			}
			if got := AppendMessage(nil, m); !bytes.Equal(got, raw) {
				t.Errorf("re-encoded %x, want %x", got, raw)
			}
			rm, err := NewReader(bytes.NewReader(raw), 0).ReadMessage()
			if err != nil || !sameMessage(rm, tt.want) {
				t.Errorf("Reader: %+v, %v; want %+v", rm, err, tt.want)
			}
		})
	}
}

// TestPieceVectors checks the two captured 16 KiB piece messages, read whole and read
// header-first into a caller's block buffer.
func TestPieceVectors(t *testing.T) {
	for _, dir := range []string{"bt/libtorrent-2.0.8/", "bt/transmission-3.00/"} {
		t.Run(dir, func(t *testing.T) {
			raw := testutil.Vector(t, dir+"piece.bin")
			head := testutil.Vector(t, dir+"piece-header.bin")
			m, n, err := ParseMessage(raw, DefaultMaxMessageLen)
			if err != nil || n != len(raw) {
				t.Fatalf("ParseMessage: n=%d err=%v", n, err)
			}
			if m.Type != Piece || m.Length != 16384 || !bytes.Equal(m.Payload, raw[13:]) {
				t.Fatalf("decoded %v index %d begin %d length %d", m.Type, m.Index, m.Begin, m.Length)
			}
			if got := AppendMessage(nil, m); !bytes.Equal(got, raw) {
				t.Error("re-encoding differs")
			}
			if got := AppendPieceHeader(nil, m.Index, m.Begin, len(m.Payload)); !bytes.Equal(got, head) {
				t.Errorf("AppendPieceHeader = %x, want %x", got, head)
			}

			// Header first, block straight into our buffer, then the next message.
			stream := append(append([]byte{}, raw...), testutil.Vector(t, dir+"have.bin")...)
			r := NewReader(bytes.NewReader(stream), 0)
			h, err := r.ReadHeader()
			if err != nil || h.Type != Piece || h.Index != m.Index || h.Length != 16384 || h.Payload != nil {
				t.Fatalf("ReadHeader = %+v, %v", h, err)
			}
			block := make([]byte, h.Length)
			if err := r.ReadPayload(block); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(block, raw[13:]) {
				t.Error("block differs")
			}
			if next, err := r.ReadMessage(); err != nil || next.Type != Have {
				t.Errorf("after block: %+v, %v", next, err)
			}
			if _, err := r.ReadMessage(); err != io.EOF {
				t.Errorf("at end: %v, want io.EOF", err)
			}
		})
	}
}

func TestReaderSkipsUnreadBlock(t *testing.T) {
	var stream []byte
	stream = AppendMessage(stream, Message{Type: Piece, Index: 1, Begin: 16384, Payload: bytes.Repeat([]byte{7}, 5000)})
	stream = AppendMessage(stream, Message{Type: Cancel, Index: 2, Begin: 3, Length: 4})
	r := NewReader(bytes.NewReader(stream), 0)
	if m, err := r.ReadHeader(); err != nil || m.Length != 5000 {
		t.Fatalf("ReadHeader = %+v, %v", m, err)
	}
	if err := r.ReadPayload(make([]byte, 10)); !errors.Is(err, ErrPayloadPending) {
		t.Errorf("ReadPayload with wrong size: %v", err)
	}
	m, err := r.ReadHeader()
	if err != nil || !sameMessage(m, Message{Type: Cancel, Index: 2, Begin: 3, Length: 4}) {
		t.Fatalf("after skipped block: %+v, %v", m, err)
	}
	if err := r.ReadPayload(make([]byte, 10)); !errors.Is(err, ErrPayloadPending) {
		t.Errorf("ReadPayload with nothing pending: %v", err)
	}
	if err := r.ReadPayload(nil); !errors.Is(err, ErrPayloadPending) {
		t.Errorf("empty ReadPayload with nothing pending: %v", err)
	}
}

// TestEmptyBlock: a piece message with an empty block is legal framing; header-first
// reading hands it over with an empty ReadPayload.
func TestEmptyBlock(t *testing.T) {
	stream := AppendMessage(nil, Message{Type: Piece, Index: 1, Begin: 2})
	stream = AppendMessage(stream, Message{Type: Have, Index: 3})
	r := NewReader(bytes.NewReader(stream), 0)
	m, err := r.ReadHeader()
	if err != nil || m.Type != Piece || m.Length != 0 {
		t.Fatalf("ReadHeader = %+v, %v", m, err)
	}
	if err := r.ReadPayload([]byte{}); err != nil {
		t.Fatalf("ReadPayload of empty block: %v", err)
	}
	if m, err := r.ReadHeader(); err != nil || m.Type != Have {
		t.Fatalf("next = %+v, %v", m, err)
	}
}

// TestRoundTripAllTypes encodes one message of every type and reads them back as one stream.
func TestRoundTripAllTypes(t *testing.T) {
	msgs := []Message{
		{Type: KeepAlive},
		{Type: Choke}, {Type: Unchoke}, {Type: Interested}, {Type: NotInterested},
		{Type: Have, Index: 0xdeadbeef},
		{Type: Bitfield, Payload: []byte{0xff, 0x80}},
		{Type: Request, Index: 1, Begin: 2, Length: 3},
		{Type: Piece, Index: 4, Begin: 5, Length: 3, Payload: []byte("abc")},
		{Type: Piece, Index: 4, Begin: 5, Length: 0, Payload: []byte{}},
		{Type: Cancel, Index: 6, Begin: 7, Length: 8},
		{Type: Port, Port: 6881},
		{Type: Suggest, Index: 9},
		{Type: HaveAll}, {Type: HaveNone},
		{Type: Reject, Index: 10, Begin: 11, Length: 12},
		{Type: AllowedFast, Index: 13},
		{Type: Extended, ExtID: 0, Payload: []byte("de")},
		{Type: Extended, ExtID: 42, Payload: []byte{}},
		{Type: 21, Payload: []byte("hash request")}, // BEP 52, not understood: kept raw
		{Type: 255, Payload: []byte{}},
	}
	var stream []byte
	for _, m := range msgs {
		before := len(stream)
		stream = AppendMessage(stream, m)
		if got := len(stream) - before; got != 4+m.Len() {
			t.Errorf("%v: encoded %d bytes, Len says %d", m.Type, got, 4+m.Len())
		}
	}
	r := NewReader(bytes.NewReader(stream), 0)
	for _, want := range msgs {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("reading %v: %v", want.Type, err)
		}
		if !sameMessage(m, want) {
			t.Errorf("read %+v, want %+v", m, want)
		}
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Errorf("at end: %v", err)
	}
}

func TestBadMessages(t *testing.T) {
	tests := []struct {
		name    string
		in      string // hex
		maxLen  int
		wantErr error
		wantTyp MessageType
	}{
		{"have too short", "0000000404000000", 0, ErrBadLength, Have},
		{"have too long", "000000060400000021ff", 0, ErrBadLength, Have},
		{"choke with payload", "0000000200ff", 0, ErrBadLength, Choke},
		{"request 12 bytes", "0000000c06000000210000000000004000", 0, ErrBadLength, Request},
		{"cancel 14 bytes", "0000000e0800000021000000000000400000", 0, ErrBadLength, Cancel},
		{"reject short", "0000000510000000000000", 0, ErrBadLength, Reject},
		{"port short", "0000000209d0", 0, ErrBadLength, Port},
		{"piece without begin", "000000050700000001", 0, ErrBadLength, Piece},
		{"extended without id", "0000000114", 0, ErrBadLength, Extended},
		{"have_all with payload", "000000020e00", 0, ErrBadLength, HaveAll},
		{"too large", "7fffffff07", 0, ErrMessageTooLarge, KeepAlive},
		{"above max", "0000001105000000000000000000000000000000000000", 16, ErrMessageTooLarge, KeepAlive},
		{"huge prefix", "ffffffff", 0, ErrMessageTooLarge, KeepAlive},
		{"truncated body", "0000000d060000002100", 0, io.ErrUnexpectedEOF, Request},
		{"truncated prefix", "0000", 0, io.ErrUnexpectedEOF, KeepAlive},
		{"truncated after prefix", "00000005", 0, io.ErrUnexpectedEOF, KeepAlive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := unhex(t, tt.in)
			maxLen := tt.maxLen
			if maxLen == 0 {
				maxLen = DefaultMaxMessageLen
			}
			check := func(how string, err error) {
				t.Helper()
				var me *MessageError
				if !errors.As(err, &me) || !errors.Is(err, tt.wantErr) {
					t.Fatalf("%s: error %v, want *MessageError wrapping %v", how, err, tt.wantErr)
				}
				if me.Type != tt.wantTyp {
					t.Errorf("%s: error type %v, want %v", how, me.Type, tt.wantTyp)
				}
			}
			_, err := NewReader(bytes.NewReader(in), maxLen).ReadMessage()
			check("Reader", err)
			_, _, err = ParseMessage(in, maxLen)
			check("ParseMessage", err)
		})
	}
}

// TestLargeMessageGrowsWithData shows that a peer announcing a large message but sending
// little of it does not make the Reader allocate the announced size.
func TestLargeMessageGrowsWithData(t *testing.T) {
	const maxLen = 4 << 20
	in := []byte{0, 0x3f, 0xff, 0xff, byte(Bitfield), 1, 2, 3} // announces ~4 MiB, sends 4 bytes
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 20
	for range runs {
		if _, err := NewReader(bytes.NewReader(in), maxLen).ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 2*directAllocLimit {
		t.Errorf("allocated %d bytes per truncated 4 MiB message, want <= %d", per, 2*directAllocLimit)
	}

	// And a full large message still reads correctly.
	big := bytes.Repeat([]byte{0xa5}, 1<<20)
	stream := AppendMessage(nil, Message{Type: Bitfield, Payload: big})
	r := NewReader(bytes.NewReader(stream), maxLen)
	m, err := r.ReadMessage()
	if err != nil || !bytes.Equal(m.Payload, big) {
		t.Fatalf("1 MiB bitfield: err %v, %d bytes", err, len(m.Payload))
	}
	if cap(r.buf) != len(big)+1 {
		t.Errorf("buffer capacity %d after a %d-byte message", cap(r.buf), len(big)+1)
	}

	// A message of exactly maxLen is read, and the buffer never exceeds maxLen.
	const small = 100 << 10
	exact := AppendMessage(nil, Message{Type: Bitfield, Payload: make([]byte, small-1)})
	r = NewReader(bytes.NewReader(exact), small)
	if _, err := r.ReadMessage(); err != nil {
		t.Fatalf("message of exactly maxLen: %v", err)
	}
	if cap(r.buf) > small {
		t.Errorf("buffer capacity %d exceeds maxLen %d", cap(r.buf), small)
	}
}

// loopReader replays data forever without allocating, to measure the Reader alone.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// TestSteadyStateAllocs proves that reading request, piece, have and cancel messages
// allocates nothing once the Reader's buffer has grown.
func TestSteadyStateAllocs(t *testing.T) {
	var stream []byte
	stream = AppendMessage(stream, Message{Type: Request, Index: 1, Begin: 0, Length: 16384})
	stream = AppendMessage(stream, Message{Type: Piece, Index: 1, Begin: 0, Payload: make([]byte, 16384)})
	stream = AppendMessage(stream, Message{Type: Have, Index: 1})
	stream = AppendMessage(stream, Message{Type: Cancel, Index: 1, Begin: 0, Length: 16384})
	stream = AppendMessage(stream, Message{Type: KeepAlive})
	r := NewReader(&loopReader{data: stream}, 0)
	readAll := func() {
		for range 5 {
			if _, err := r.ReadMessage(); err != nil {
				t.Fatal(err)
			}
		}
	}
	readAll() // warm up: the body buffer grows once
	if n := testing.AllocsPerRun(100, readAll); n != 0 {
		t.Errorf("ReadMessage: %v allocs per 5 messages, want 0", n)
	}

	block := make([]byte, 16384)
	readSplit := func() {
		for range 5 {
			m, err := r.ReadHeader()
			if err != nil {
				t.Fatal(err)
			}
			if m.Type == Piece {
				if err := r.ReadPayload(block[:m.Length]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if n := testing.AllocsPerRun(100, readSplit); n != 0 {
		t.Errorf("ReadHeader+ReadPayload: %v allocs per 5 messages, want 0", n)
	}

	dst := make([]byte, 0, 32<<10)
	write := func() {
		dst = dst[:0]
		dst = AppendMessage(dst, Message{Type: Request, Index: 1, Length: 16384})
		dst = AppendMessage(dst, Message{Type: Piece, Index: 1, Payload: block})
		dst = AppendPieceHeader(dst, 1, 0, 16384)
	}
	if n := testing.AllocsPerRun(100, write); n != 0 {
		t.Errorf("AppendMessage: %v allocs, want 0", n)
	}
}

func TestMessageTypeString(t *testing.T) {
	for typ, want := range map[MessageType]string{
		KeepAlive: "keep_alive", Choke: "choke", Reject: "reject_request", Extended: "extended", HashRequest: "hash_request", HashReject: "hash_reject", 24: "message_24", 10: "message_10",
	} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(typ), got, want)
		}
	}
}
