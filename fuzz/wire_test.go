package fuzz

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/wire"
)

// wireVectors returns the captured peer-wire vectors (libtorrent and Transmission)
// whose file names match pattern, e.g. "*.bin" or "ext-ut_pex.bencode".
func wireVectors(f *testing.F, pattern string) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join(testutil.SharedDir(f), "vectors", "bt", "*", pattern))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		f.Fatalf("no vectors match %s", pattern)
	}
	return out
}

// extPayloads returns the payloads (after the extended id) of the extended-message
// vectors matching pattern.
func extPayloads(f *testing.F, pattern string) [][]byte {
	var out [][]byte
	for _, v := range wireVectors(f, pattern) {
		m, _, err := wire.ParseMessage(v, wire.DefaultMaxMessageLen)
		if err != nil || m.Type != wire.Extended {
			f.Fatalf("vector is not an extended message: %v", err)
		}
		out = append(out, m.Payload)
	}
	return out
}

var cmpAddr = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

func FuzzWireHandshake(f *testing.F) {
	for _, v := range wireVectors(f, "handshake.bin") {
		f.Add(v)
		f.Add(v[:wire.HandshakeHeadLen])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := wire.ParseHandshake(in)
		rh, rerr := wire.ReadHandshake(bytes.NewReader(in))
		if (err == nil) != (rerr == nil) || rh != h {
			t.Fatalf("ParseHandshake %v and ReadHandshake %v disagree", err, rerr)
		}
		if err != nil {
			if !errors.Is(err, wire.ErrBadHandshake) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if enc := wire.AppendHandshake(nil, h); !bytes.Equal(enc, in[:wire.HandshakeLen]) {
			t.Fatalf("re-encoded %x, input %x", enc, in[:wire.HandshakeLen])
		}
	})
}

// FuzzWireMessage decodes a stream of framed messages twice, with ParseMessage and with
// a Reader (alternating ReadMessage and ReadHeader/ReadPayload), requires both to agree,
// and requires every decoded message to re-encode to exactly its input bytes.
func FuzzWireMessage(f *testing.F) {
	for _, v := range wireVectors(f, "*.bin") {
		if len(v) == wire.HandshakeLen && v[0] == 19 {
			continue
		}
		if len(v) > 2048 {
			// The 16 KiB piece vectors, shortened: the fuzzer minimises every new input
			// it finds, which takes minutes for one this long and stalls the run.
			m, _, err := wire.ParseMessage(v, wire.DefaultMaxMessageLen)
			if err != nil {
				f.Fatal(err)
			}
			m.Payload = m.Payload[:64]
			v = wire.AppendMessage(nil, m)
		}
		f.Add(v, uint16(0))
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 5, 4, 0, 0, 0, 1, 0, 0, 0, 1, 1}, uint16(0))
	f.Add([]byte{0, 0, 0, 10, 7, 0, 0, 0, 1, 0, 0, 0, 0, 'x'}, uint16(1))
	f.Fuzz(func(t *testing.T, in []byte, mode uint16) {
		const maxLen = 1 << 16
		r := wire.NewReader(bytes.NewReader(in), maxLen)
		rest := in
		for i := 0; ; i++ {
			m, n, err := wire.ParseMessage(rest, maxLen)
			split := mode>>(i%16)&1 == 1
			var rm Message
			var rerr error
			if split {
				rm, rerr = r.ReadHeader()
				if rerr == nil && rm.Type == wire.Piece {
					block := make([]byte, rm.Length)
					if rerr = r.ReadPayload(block); rerr == nil {
						rm.Payload = block
					}
				}
			} else {
				rm, rerr = r.ReadMessage()
			}
			if len(rest) == 0 {
				if rerr != io.EOF {
					t.Fatalf("Reader at end of input: %v", rerr)
				}
				return
			}
			if err != nil {
				var me *wire.MessageError
				if !errors.As(err, &me) {
					t.Fatalf("ParseMessage error is not a *MessageError: %v", err)
				}
				if rerr == nil {
					t.Fatalf("ParseMessage failed (%v) but Reader read %+v", err, rm)
				}
				if !errors.Is(rerr, me.Err) {
					t.Fatalf("ParseMessage error %v, Reader error %v", err, rerr)
				}
				return
			}
			if rerr != nil {
				t.Fatalf("ParseMessage read %+v but Reader failed: %v", m, rerr)
			}
			if !cmp.Equal(Message(m), rm, cmpPayload) {
				t.Fatalf("ParseMessage %+v, Reader %+v", m, rm)
			}
			if enc := wire.AppendMessage(nil, m); !bytes.Equal(enc, rest[:n]) {
				t.Fatalf("re-encoded %x, input %x", enc, rest[:n])
			}
			if n != 4+m.Len() {
				t.Fatalf("consumed %d bytes, Len says %d", n, m.Len())
			}
			rest = rest[n:]
		}
	})
}

// Message is wire.Message, named here so cmp can compare payloads by content.
type Message = wire.Message

var cmpPayload = cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })

func FuzzWireExtendedHandshake(f *testing.F) {
	for _, v := range wireVectors(f, "ext-handshake-*.bencode") {
		f.Add(v)
	}
	f.Add([]byte("d1:md1:ai1e1:bi300ee1:pi0e1:v0:e"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := wire.ParseExtendedHandshake(in)
		if err != nil {
			if !errors.Is(err, wire.ErrBadPayload) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		enc := wire.AppendExtendedHandshake(nil, h)
		h2, err := wire.ParseExtendedHandshake(enc)
		if err != nil {
			t.Fatalf("re-encoding %q does not decode: %v", enc, err)
		}
		if diff := cmp.Diff(h, h2, cmpPayload); diff != "" {
			t.Fatalf("round trip changed the handshake (-first +second):\n%s", diff)
		}
		if enc2 := wire.AppendExtendedHandshake(nil, h2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %q vs %q", enc, enc2)
		}
	})
}

func FuzzWireMetadata(f *testing.F) {
	for _, p := range extPayloads(f, "ext-ut_metadata-*.bin") {
		f.Add(p)
	}
	f.Add([]byte("d8:msg_typei2e5:piecei3ee"))
	f.Add([]byte("d8:msg_typei1e5:piecei1e10:total_sizei16390ee123456"))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := wire.ParseMetadataMessage(in)
		if err != nil {
			if !errors.Is(err, wire.ErrBadPayload) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if m.Type == wire.MetadataData {
			if want, ok := wire.MetadataPieceSize(m.TotalSize, m.Piece); !ok || len(m.Data) != want {
				t.Fatalf("accepted piece %d of %d bytes with %d bytes of data", m.Piece, m.TotalSize, len(m.Data))
			}
		}
		enc := wire.AppendMetadataMessage(nil, m)
		m2, err := wire.ParseMetadataMessage(enc)
		if err != nil {
			t.Fatalf("re-encoding %q does not decode: %v", enc, err)
		}
		if diff := cmp.Diff(m, m2, cmpPayload); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzWirePEX(f *testing.F) {
	for _, p := range extPayloads(f, "ext-ut_pex.bin") {
		f.Add(p)
	}
	f.Add([]byte("d6:added618:0123456789abcdef\x00\x018:added6.f1:\x047:dropped6:\x01\x02\x03\x04\x00\x05e"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := wire.ParsePEX(in)
		if err != nil {
			if !errors.Is(err, wire.ErrBadPayload) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for _, l := range [][]wire.PEXPeer{p.Added, p.Added6} {
			if len(l) > wire.MaxPEXPeers {
				t.Fatalf("%d added peers accepted", len(l))
			}
		}
		for _, l := range [][]netip.AddrPort{p.Dropped, p.Dropped6} {
			if len(l) > wire.MaxPEXPeers {
				t.Fatalf("%d dropped peers accepted", len(l))
			}
		}
		enc := wire.AppendPEX(nil, p)
		p2, err := wire.ParsePEX(enc)
		if err != nil {
			t.Fatalf("re-encoding %q does not decode: %v", enc, err)
		}
		if diff := cmp.Diff(p, p2, cmpAddr); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
