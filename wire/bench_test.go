package wire

import (
	"io"
	"net/netip"
	"testing"
)

// benchRead measures reading one message type over and over from an endless stream.
func benchRead(b *testing.B, m Message, split bool) {
	frame := AppendMessage(nil, m)
	// Several copies so bufio refills are amortised as on a real socket.
	var stream []byte
	for range 64 {
		stream = append(stream, frame...)
	}
	r := NewReader(&loopReader{data: stream}, 0)
	block := make([]byte, len(m.Payload))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		var got Message
		var err error
		if split {
			got, err = r.ReadHeader()
			if err == nil && got.Type == Piece {
				err = r.ReadPayload(block)
			}
		} else {
			got, err = r.ReadMessage()
		}
		if err != nil || got.Type != m.Type {
			b.Fatalf("%v %v", got.Type, err)
		}
	}
}

func BenchmarkReadHave(b *testing.B) { benchRead(b, Message{Type: Have, Index: 7}, false) }
func BenchmarkReadRequest(b *testing.B) {
	benchRead(b, Message{Type: Request, Index: 7, Begin: 16384, Length: 16384}, false)
}
func BenchmarkReadCancel(b *testing.B) {
	benchRead(b, Message{Type: Cancel, Index: 7, Begin: 16384, Length: 16384}, false)
}
func BenchmarkReadPiece(b *testing.B) {
	benchRead(b, Message{Type: Piece, Index: 7, Payload: make([]byte, 16384)}, false)
}
func BenchmarkReadPieceIntoBlock(b *testing.B) {
	benchRead(b, Message{Type: Piece, Index: 7, Payload: make([]byte, 16384)}, true)
}

func BenchmarkAppendRequest(b *testing.B) {
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendMessage(dst[:0], Message{Type: Request, Index: 7, Begin: 16384, Length: 16384})
	}
}

func BenchmarkAppendPiece(b *testing.B) {
	block := make([]byte, 16384)
	dst := make([]byte, 0, 32<<10)
	b.SetBytes(int64(len(block) + PieceHeaderLen))
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendMessage(dst[:0], Message{Type: Piece, Index: 7, Payload: block})
	}
}

func BenchmarkWriteHandshake(b *testing.B) {
	h := Handshake{InfoHash: [20]byte{1}, PeerID: [20]byte{2}}
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteHandshake(io.Discard, h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseExtendedHandshake(b *testing.B) {
	payload := AppendExtendedHandshake(nil, ExtendedHandshake{
		M: map[string]int{ExtMetadata: 2, ExtPEX: 1}, V: "btt/0.1", P: 6881, Reqq: 500, YourIP: []byte{127, 0, 0, 1}, MetadataSize: 1008,
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseExtendedHandshake(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllowedFastSet(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		AllowedFastSet(testAddr, [20]byte{0xaa}, 1313, 10)
	}
}

var testAddr = netip.MustParseAddr("80.4.4.200")
