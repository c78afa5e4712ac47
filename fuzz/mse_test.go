package fuzz

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/speedbt/btt/peer/mse"
)

func mseRand(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

var mseSKEY = [20]byte{0xaa, 1, 2, 3}

func mseLookup(req2 [20]byte) ([20]byte, bool) { return mseSKEY, req2 == mse.Req2(mseSKEY) }

func mseResponder() *mse.Handshaker {
	return mse.NewResponder(mse.ResponderConfig{Lookup: mseLookup, Allow: mse.Plaintext | mse.RC4, Rand: mseRand(2)})
}

func mseInitiator() *mse.Handshaker {
	return mse.NewInitiator(mse.InitiatorConfig{SKEY: mseSKEY, Provide: mse.Plaintext | mse.RC4, IA: []byte("ia"), Rand: mseRand(1)})
}

// mseTranscript runs an initiator and a responder with fixed randomness against each other
// and returns what each sent. Fed to a fresh machine with the same randomness, a transcript
// drives it through every state, so the fuzzer starts from valid handshakes and mutates the
// lengths, methods and padding that follow the key exchange.
func mseTranscript(t testing.TB) (toB, toA []byte) {
	a, b := mseInitiator(), mseResponder()
	var aDone, bDone bool
	for i := 0; i < 10 && !(aDone && bDone); i++ {
		out, done, err := a.Step()
		if err != nil {
			t.Fatal(err)
		}
		toB, aDone = append(toB, out...), done
		if err := b.Recv(out); err != nil {
			t.Fatal(err)
		}
		out, done, err = b.Step()
		if err != nil {
			t.Fatal(err)
		}
		toA, bDone = append(toA, out...), done
		if !aDone {
			if err := a.Recv(out); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !aDone || !bDone {
		t.Fatal("transcript handshake did not finish")
	}
	return toB, toA
}

// feedMSE gives in to h in chunks of chunk+1 bytes, stepping after each, and checks the
// machine's bounds: it never buffers more than MaxHandshakeBytes, and once done its result
// holds no more payload than it was given.
func feedMSE(t *testing.T, h *mse.Handshaker, in []byte, chunk uint8) {
	n := int(chunk) + 1
	for len(in) > 0 {
		k := min(n, len(in))
		if k > h.Room() {
			if err := h.Recv(in[:k]); err == nil {
				t.Fatal("Recv accepted bytes past its bound")
			}
			return
		}
		if err := h.Recv(in[:k]); err != nil {
			return
		}
		in = in[k:]
		_, done, err := h.Step()
		if err != nil {
			return
		}
		if done {
			r := h.Result()
			if r == nil || len(r.Rest) > mse.MaxHandshakeBytes {
				t.Fatalf("done with result %v", r)
			}
			return
		}
	}
}

// FuzzMSEResponder: whatever an initiator sends, the responder fails cleanly or finishes,
// within its byte bound.
func FuzzMSEResponder(f *testing.F) {
	toB, _ := mseTranscript(f)
	f.Add(toB, uint8(255))
	f.Add(toB, uint8(7))
	f.Add(toB[:mse.KeyLen+40], uint8(255))
	f.Add([]byte("\x13BitTorrent protocol"), uint8(0))
	f.Add(make([]byte, 700), uint8(99))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		h := mseResponder()
		h.Step()
		feedMSE(t, h, in, chunk)
	})
}

// FuzzMSEInitiator: whatever a responder answers, the initiator fails cleanly or finishes.
func FuzzMSEInitiator(f *testing.F) {
	_, toA := mseTranscript(f)
	f.Add(toA, uint8(255))
	f.Add(append(toA, "payload"...), uint8(3))
	f.Add(toA[:mse.KeyLen+10], uint8(255))
	f.Add(make([]byte, 700), uint8(99))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		h := mseInitiator()
		h.Step()
		feedMSE(t, h, in, chunk)
	})
}
