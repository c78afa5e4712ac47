package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestReaderShortReads reads a stream of every kind of message through readers that
// return one byte, or half of what was asked, at a time, as a slow socket does.
func TestReaderShortReads(t *testing.T) {
	msgs := []Message{
		{Type: Have, Index: 1},
		{Type: Piece, Index: 2, Begin: 16384, Length: 6000, Payload: bytes.Repeat([]byte{0x5a}, 6000)},
		{Type: KeepAlive},
		{Type: Bitfield, Payload: bytes.Repeat([]byte{0xff}, 70000)}, // longer than the direct-allocation step
		{Type: Request, Index: 3, Begin: 0, Length: 16384},
		{Type: Extended, ExtID: 1, Payload: []byte("d5:added0:e")},
		{Type: Piece, Index: 4, Begin: 0, Length: 100, Payload: bytes.Repeat([]byte{1}, 100)},
		{Type: Piece, Index: 5, Begin: 0, Length: 16384, Payload: bytes.Repeat([]byte{7, 8, 9}, 16384/3+1)[:16384]},
		{Type: Piece, Index: 5, Begin: 16384, Length: 16384, Payload: bytes.Repeat([]byte{3}, 16384)},
		{Type: Have, Index: 6},
	}
	var stream []byte
	for _, m := range msgs {
		stream = AppendMessage(stream, m)
	}
	wrappers := map[string]func(io.Reader) io.Reader{
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	// Read-aheads smaller and larger than a block: a block's head comes from the
	// read-ahead and its tail straight from the stream, which must stay in step.
	for name, wrap := range wrappers {
		for _, size := range []int{0, 16 << 10, 64 << 10} {
			for _, split := range []bool{false, true} {
				r := NewReaderSize(wrap(bytes.NewReader(stream)), 1<<20, size)
				for i, want := range msgs {
					var m Message
					var err error
					if split {
						m, err = r.ReadHeader()
						if err == nil && m.Type == Piece {
							m.Payload = make([]byte, m.Length)
							err = r.ReadPayload(m.Payload)
						}
					} else {
						m, err = r.ReadMessage()
					}
					if err != nil || !sameMessage(m, want) {
						t.Fatalf("%s size=%d split=%v message %d: %v %v", name, size, split, i, m.Type, err)
					}
				}
				if _, err := r.ReadMessage(); err != io.EOF {
					t.Errorf("%s size=%d split=%v: at end %v, want io.EOF", name, size, split, err)
				}
			}
		}
	}
}

// TestReaderPassesNetworkErrors: an error from the connection (here a timeout) is not a
// malformed message: it comes back wrapped, and is not a *MessageError.
func TestReaderPassesNetworkErrors(t *testing.T) {
	stream := AppendMessage(nil, Message{Type: Piece, Index: 1, Payload: make([]byte, 8000)})
	r := NewReader(iotest.TimeoutReader(bytes.NewReader(stream)), 0)
	_, err := r.ReadMessage()
	var me *MessageError
	if !errors.Is(err, iotest.ErrTimeout) || errors.As(err, &me) {
		t.Fatalf("got %v, want a wrapped iotest.ErrTimeout", err)
	}

	boom := errors.New("boom")
	r = NewReader(iotest.ErrReader(boom), 0)
	if _, err := r.ReadMessage(); !errors.Is(err, boom) || errors.As(err, &me) {
		t.Fatalf("got %v, want wrapped boom", err)
	}
}
