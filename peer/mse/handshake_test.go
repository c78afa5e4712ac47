package mse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"testing"
)

func seeded(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

var testSKEY = [20]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}

func lookupOnly(skeys ...[20]byte) func([20]byte) ([20]byte, bool) {
	return func(req2 [20]byte) ([20]byte, bool) {
		for _, k := range skeys {
			if Req2(k) == req2 {
				return k, true
			}
		}
		return [20]byte{}, false
	}
}

// run drives an initiator and a responder against each other in memory, delivering each
// side's output in chunks of random size (the sync searches must not depend on how TCP
// segments the stream). It returns both results or the first error.
func run(t *testing.T, ic InitiatorConfig, rc ResponderConfig, seed uint64) (*Result, *Result, error) {
	t.Helper()
	a, b := NewInitiator(ic), NewResponder(rc)
	chunks := rand.New(rand.NewPCG(seed, 7))
	var toA, toB []byte
	var aDone, bDone bool
	for range 10000 {
		if !aDone {
			out, done, err := a.Step()
			if err != nil {
				return nil, nil, err
			}
			toB, aDone = append(toB, out...), done
		}
		if !bDone {
			out, done, err := b.Step()
			if err != nil {
				return nil, nil, err
			}
			toA, bDone = append(toA, out...), done
		}
		if aDone && bDone {
			return a.Result(), b.Result(), nil
		}
		if n := min(len(toA), 1+chunks.IntN(300)); n > 0 && !aDone {
			if err := a.Recv(toA[:n]); err != nil {
				return nil, nil, err
			}
			toA = toA[n:]
		}
		if n := min(len(toB), 1+chunks.IntN(300)); n > 0 && !bDone {
			if err := b.Recv(toB[:n]); err != nil {
				return nil, nil, err
			}
			toB = toB[n:]
		}
	}
	t.Fatal("handshake did not finish")
	return nil, nil, nil
}

func TestNegotiation(t *testing.T) {
	tests := []struct {
		name    string
		provide Method
		allow   Method
		want    Method
		wantErr error
	}{
		{"both offered, both allowed: rc4", Plaintext | RC4, Plaintext | RC4, RC4, nil},
		{"rc4 only", RC4, RC4, RC4, nil},
		{"plaintext offered, both allowed", Plaintext, Plaintext | RC4, Plaintext, nil},
		{"both offered, responder plaintext only", Plaintext | RC4, Plaintext, Plaintext, nil},
		{"plaintext offered, rc4 required", Plaintext, RC4, 0, ErrNoMethod},
		{"rc4 offered, plaintext only", RC4, Plaintext, 0, ErrNoMethod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(8) {
				ia := []byte("initial payload")
				ra, rb, err := run(t,
					InitiatorConfig{SKEY: testSKEY, Provide: tt.provide, IA: ia, Rand: seeded(seed)},
					ResponderConfig{Lookup: lookupOnly([20]byte{9}, testSKEY), Allow: tt.allow, Rand: seeded(seed + 100)},
					seed)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("seed %d: err %v, want %v", seed, err, tt.wantErr)
				}
				if err != nil {
					return
				}
				if ra.Method != tt.want || rb.Method != tt.want {
					t.Fatalf("methods %v/%v, want %v", ra.Method, rb.Method, tt.want)
				}
				if rb.SKEY != testSKEY || !bytes.Equal(rb.IA, ia) || !bytes.Equal(rb.Rest, ia) {
					t.Fatalf("responder got skey %x ia %q rest %q", rb.SKEY, rb.IA, rb.Rest)
				}
			}
		})
	}
}

// TestStream: after the handshake, each direction's payload decrypts to what was sent, the
// bytes on the wire are not the payload, and bytes that arrived with the handshake come first.
func TestStream(t *testing.T) {
	for _, m := range []Method{RC4, Plaintext} {
		t.Run(m.String(), func(t *testing.T) {
			ca, cb := net.Pipe()
			defer ca.Close()
			defer cb.Close()
			wire := &tap{Conn: ca}
			type side struct {
				c   net.Conn
				res *Result
				err error
			}
			done := make(chan side, 1)
			go func() {
				c, r, err := Handshake(cb, NewResponder(ResponderConfig{Lookup: lookupOnly(testSKEY), Allow: m, Rand: seeded(2)}))
				done <- side{c, r, err}
			}()
			a, ra, err := Handshake(wire, NewInitiator(InitiatorConfig{SKEY: testSKEY, Provide: Plaintext | RC4, Rand: seeded(1)}))
			if err != nil {
				t.Fatal(err)
			}
			b := <-done
			if b.err != nil {
				t.Fatal(b.err)
			}
			if ra.Method != m {
				t.Fatalf("method %v want %v", ra.Method, m)
			}
			msg := bytes.Repeat([]byte("\x13BitTorrent protocol"), 5000) // larger than one write chunk
			wire.sent.Reset()
			go func() { a.Write(msg) }()
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(b.c, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatal("a->b payload corrupted")
			}
			if plain := bytes.Contains(wire.sent.Bytes(), []byte("BitTorrent protocol")); plain != (m == Plaintext) {
				t.Fatalf("plaintext on the wire: %v, method %v", plain, m)
			}
			go func() { b.c.Write([]byte("reply")) }()
			r := make([]byte, 5)
			if _, err := io.ReadFull(a, r); err != nil || string(r) != "reply" {
				t.Fatalf("b->a: %q %v", r, err)
			}
		})
	}
}

// tap records what is written through it.
type tap struct {
	net.Conn
	sent bytes.Buffer
}

func (t *tap) Write(p []byte) (int, error) {
	t.sent.Write(p)
	return t.Conn.Write(p)
}

// TestRestDecrypted: payload that arrives in the same read as the end of the handshake is
// handed over decrypted, before anything read later.
func TestRestDecrypted(t *testing.T) {
	a := NewInitiator(InitiatorConfig{SKEY: testSKEY, Provide: RC4, Rand: seeded(3)})
	b := NewResponder(ResponderConfig{Lookup: lookupOnly(testSKEY), Allow: RC4, Rand: seeded(4)})
	outA, _, _ := a.Step()
	b.Recv(outA)
	outB, _, _ := b.Step()
	a.Recv(outB)
	outA, _, _ = a.Step()
	b.Recv(outA)
	outB, done, err := b.Step()
	if !done || err != nil {
		t.Fatal(done, err)
	}
	// The responder sends payload right behind its crypto_select.
	rb := b.Result()
	payload := []byte("hello after handshake")
	enc := append([]byte(nil), payload...)
	rb.enc.XORKeyStream(enc, enc)
	a.Recv(append(outB, enc...))
	if _, done, err := a.Step(); !done || err != nil {
		t.Fatal(done, err)
	}
	if got := a.Result().Rest; !bytes.Equal(got, payload) {
		t.Fatalf("rest %q", got)
	}
}

func TestRefusals(t *testing.T) {
	t.Run("unknown torrent", func(t *testing.T) {
		_, _, err := run(t, InitiatorConfig{SKEY: testSKEY, Provide: RC4, Rand: seeded(1)},
			ResponderConfig{Lookup: lookupOnly([20]byte{7}), Allow: RC4, Rand: seeded(2)}, 1)
		if !errors.Is(err, ErrUnknownTorrent) {
			t.Fatal(err)
		}
	})
	t.Run("degenerate keys", func(t *testing.T) {
		for _, y := range []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(prime, big.NewInt(1)), prime} {
			b := NewResponder(ResponderConfig{Lookup: lookupOnly(testSKEY), Allow: RC4, Rand: seeded(2)})
			b.Recv(y.FillBytes(make([]byte, KeyLen)))
			if _, _, err := b.Step(); !errors.Is(err, ErrBadKey) {
				t.Fatalf("Y=%v: %v", y, err)
			}
		}
	})
	t.Run("no sync in window", func(t *testing.T) {
		// A valid key followed by noise: the responder gives up once 512+20 bytes hold no
		// req1 hash, without waiting for more.
		b := NewResponder(ResponderConfig{Lookup: lookupOnly(testSKEY), Allow: RC4, Rand: seeded(2)})
		kp, _ := newKeyPair(seeded(9))
		b.Recv(kp.pub[:])
		b.Recv(make([]byte, maxPad+19))
		if _, _, err := b.Step(); err != nil {
			t.Fatalf("failed before the window was full: %v", err)
		}
		b.Recv([]byte{0})
		if _, _, err := b.Step(); !errors.Is(err, ErrNoSync) {
			t.Fatal(err)
		}
	})
	t.Run("initiator no sync", func(t *testing.T) {
		a := NewInitiator(InitiatorConfig{SKEY: testSKEY, Provide: RC4, Rand: seeded(1)})
		a.Step()
		kp, _ := newKeyPair(seeded(9))
		a.Recv(kp.pub[:])
		a.Recv(make([]byte, maxPad+vcLen))
		if _, _, err := a.Step(); !errors.Is(err, ErrNoSync) {
			t.Fatal(err)
		}
	})
	t.Run("tampered provide", func(t *testing.T) {
		a := NewInitiator(InitiatorConfig{SKEY: testSKEY, Provide: RC4, Rand: seeded(1)})
		b := NewResponder(ResponderConfig{Lookup: lookupOnly(testSKEY), Allow: RC4, Rand: seeded(2)})
		out, _, _ := a.Step()
		b.Recv(out)
		out, _, _ = b.Step()
		a.Recv(out)
		out, _, _ = a.Step()
		out[40] ^= 1 // first byte of ENCRYPT(VC)
		b.Recv(out)
		if _, _, err := b.Step(); !errors.Is(err, ErrBadVC) {
			t.Fatal(err)
		}
	})
	t.Run("bytes bounded", func(t *testing.T) {
		b := NewResponder(ResponderConfig{Lookup: lookupOnly(testSKEY), Allow: RC4, Rand: seeded(2)})
		if err := b.Recv(make([]byte, MaxHandshakeBytes+1)); !errors.Is(err, ErrTooLong) {
			t.Fatal(err)
		}
	})
}

func TestPolicy(t *testing.T) {
	for _, s := range []string{"off", "prefer", "require"} {
		p, err := ParsePolicy(s)
		if err != nil || p.String() != s {
			t.Fatalf("%s: %v %v", s, p, err)
		}
	}
	if _, err := ParsePolicy("yes"); err == nil {
		t.Fatal("accepted yes")
	}
	if !IsPlaintextHandshake([]byte("\x13BitTorrent protocol\x00\x00")) || IsPlaintextHandshake([]byte("\x13BitTorrent protoco")) {
		t.Fatal("detection")
	}
}

// TestPrime: P is a 768-bit prime (a wrong digit makes every handshake with another client
// fail to synchronise, which only the conformance tests would otherwise show).
func TestPrime(t *testing.T) {
	if prime.BitLen() != 768 || !prime.ProbablyPrime(20) {
		t.Fatalf("P is not a 768-bit prime: %d bits", prime.BitLen())
	}
}
