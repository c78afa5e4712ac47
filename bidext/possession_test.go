package bidext

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"testing"
)

var (
	testSecret = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
	testHash   = bytes.Repeat([]byte{0xab}, 20)
)

// torrent is a fake torrent's content: deterministic bytes.
func torrent(total int) []byte {
	b := make([]byte, total)
	r := mrand.New(mrand.NewPCG(9, 9))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func reader(content []byte, pieceLen int) func(piece, chunk uint32) ([]byte, error) {
	return func(piece, chunk uint32) ([]byte, error) {
		start := int(piece)*pieceLen + int(chunk)*ChunkSize
		end := min(start+ChunkSize, (int(piece)+1)*pieceLen, len(content))
		if start >= end {
			return nil, io.ErrUnexpectedEOF
		}
		return content[start:end], nil
	}
}

func TestNewPossessionGeometry(t *testing.T) {
	tests := []struct {
		name        string
		hash        []byte
		pieceLen    int64
		total       int64
		chunks      uint64
		errGeometry bool
	}{
		{"one chunk", testHash, 16384, 10, 1, false},
		{"exact pieces", testHash, 32768, 4 * 32768, 8, false},
		{"short last piece", testHash, 32768, 3*32768 + 100, 7, false},
		{"piece not a chunk multiple", testHash, 20000, 40000, 4, false},
		{"v2 info-hash", bytes.Repeat([]byte{1}, 32), 16384, 16384, 1, false},
		{"bad hash", []byte{1}, 16384, 10, 0, true},
		{"zero piece", testHash, 0, 10, 0, true},
		{"negative total", testHash, 16384, -1, 0, true},
		{"too many chunks", testHash, 1 << 20, 1 << 50, 0, true},
		{"too many pieces", testHash, 1, 1 << 40, 0, true},
	}
	for _, tt := range tests {
		p, err := NewPossession(testSecret, tt.hash, tt.pieceLen, tt.total)
		if tt.errGeometry {
			if !errors.Is(err, ErrGeometry) {
				t.Errorf("%s: err = %v, want ErrGeometry", tt.name, err)
			}
			continue
		}
		if err != nil || p.Chunks() != tt.chunks {
			t.Errorf("%s: chunks = %v, %v; want %d", tt.name, p, err, tt.chunks)
		}
	}
}

func TestChallengeDeterministicPerTorrent(t *testing.T) {
	seq := func(secret [32]byte, hash []byte) [][2]uint32 {
		p, err := NewPossession(secret, hash, 1<<18, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		var out [][2]uint32
		for range 20 {
			pc, ch := p.Current()
			out = append(out, [2]uint32{pc, ch})
			p.Uploaded(pc, ch*ChunkSize, ChunkSize)
		}
		return out
	}
	a, b := seq(testSecret, testHash), seq(testSecret, testHash)
	if !equal(a, b) {
		t.Fatal("same secret and torrent gave different challenge sequences")
	}
	other := bytes.Repeat([]byte{0xac}, 20)
	if equal(a, seq(testSecret, other)) {
		t.Fatal("another torrent gave the same challenge sequence")
	}
	s2 := testSecret
	s2[0] ^= 1
	if equal(a, seq(s2, testHash)) {
		t.Fatal("another secret gave the same challenge sequence")
	}
}

func equal(a, b [][2]uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestChallengeAvoidsUploaded uploads chunk after chunk: the challenge is never a chunk
// marked since the last clearing, and the bitmap clears once all chunks are marked.
func TestChallengeAvoidsUploaded(t *testing.T) {
	p, err := NewPossession(testSecret, testHash, 3*ChunkSize, 10*ChunkSize+5) // 4 pieces, 11 chunks
	if err != nil {
		t.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(2, 2))
	for i := range 5000 {
		piece := uint32(rng.IntN(4))
		chunk := uint32(rng.IntN(3))
		g, ok := p.index(piece, chunk)
		if !ok {
			continue
		}
		wasCur := g == p.cur
		changed := p.Uploaded(piece, chunk*ChunkSize, 1)
		if changed != wasCur {
			t.Fatalf("step %d: changed = %v, uploaded the challenged chunk = %v", i, changed, wasCur)
		}
		if p.isSet(p.cur) {
			t.Fatalf("step %d: challenged chunk %d is marked", i, p.cur)
		}
		if changed && p.cur == g {
			t.Fatalf("step %d: re-challenged the chunk just uploaded", i)
		}
		if p.set >= p.n {
			t.Fatalf("step %d: bitmap full and not cleared", i)
		}
	}
}

// TestDrawScansNearlyFullBitmap leaves one chunk of 100,000 unmarked: the PRNG draws
// miss it and the word scan must find it, wherever it is.
func TestDrawScansNearlyFullBitmap(t *testing.T) {
	for _, free := range []uint64{0, 63, 64, 65, 99_999, 54_321} {
		p, err := NewPossession(testSecret, testHash, ChunkSize, 100_000*ChunkSize)
		if err != nil {
			t.Fatal(err)
		}
		for i := range p.bits {
			p.bits[i] = ^uint64(0)
		}
		p.bits[free/64] &^= 1 << (free % 64)
		p.set = p.n - 1
		if got := p.draw(p.n); got != free {
			t.Errorf("free chunk %d: drew %d", free, got)
		}
	}
}

func TestUploadedRange(t *testing.T) {
	p, err := NewPossession(testSecret, testHash, 4*ChunkSize, 8*ChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	p.Uploaded(1, ChunkSize-1, ChunkSize+2) // touches chunks 0, 1, 2 of piece 1
	for c := uint32(0); c < 4; c++ {
		g, _ := p.index(1, c)
		if want := c <= 2; p.isSet(g) != want {
			t.Errorf("chunk %d marked = %v, want %v", c, p.isSet(g), want)
		}
	}
	p.Uploaded(9, 0, ChunkSize)           // no such piece: ignored
	p.Uploaded(1, 3*ChunkSize, 1<<31)     // runs past the piece: stops at its end
	p.Uploaded(1, 0xFFFFFFFF, 0xFFFFFFFF) // absurd range: no panic
	if p.set != 4 {
		t.Errorf("marked %d chunks, want 4", p.set)
	}
}

func TestSourceProofVerify(t *testing.T) {
	const pieceLen = 3 * ChunkSize
	content := torrent(5*ChunkSize + 77)
	read := reader(content, pieceLen)
	newP := func() *Possession {
		p, err := NewPossession(testSecret, testHash, pieceLen, int64(len(content)))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	answer := func(c Challenge) [ProofSize]byte {
		data, err := read(c.Piece, c.Chunk)
		if err != nil {
			t.Fatal(err)
		}
		return SourceProof(c.Salt, testHash, c.Piece, c.Chunk, data)
	}

	t.Run("valid proof, then replay", func(t *testing.T) {
		p := newP()
		c, err := p.Challenge(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		proof := answer(c)
		if err := p.Verify(c.Salt, c.Piece, c.Chunk, proof, read); err != nil {
			t.Fatalf("valid proof rejected: %v", err)
		}
		if err := p.Verify(c.Salt, c.Piece, c.Chunk, proof, read); !errors.Is(err, ErrUnknownChallenge) {
			t.Fatalf("replay: err = %v, want ErrUnknownChallenge", err)
		}
	})
	t.Run("every chunk, including short ones", func(t *testing.T) {
		p := newP()
		for range 200 {
			c, err := p.Challenge(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Verify(c.Salt, c.Piece, c.Chunk, answer(c), read); err != nil {
				t.Fatalf("challenge %+v: %v", c, err)
			}
			p.Uploaded(c.Piece, c.Chunk*ChunkSize, ChunkSize) // move the challenge on
		}
	})
	t.Run("forgeries", func(t *testing.T) {
		p := newP()
		flip := func(s [SaltSize]byte) [SaltSize]byte { s[0] ^= 1; return s }
		bad := []struct {
			name  string
			forge func(c Challenge, data []byte) [ProofSize]byte
		}{
			{"bare chunk hash (BEP 52 leaf)", func(c Challenge, data []byte) [ProofSize]byte { return sha256.Sum256(data) }},
			{"another salt's proof", func(c Challenge, data []byte) [ProofSize]byte {
				return SourceProof(flip(c.Salt), testHash, c.Piece, c.Chunk, data)
			}},
			{"another torrent's proof", func(c Challenge, data []byte) [ProofSize]byte {
				return SourceProof(c.Salt, []byte("x"), c.Piece, c.Chunk, data)
			}},
			{"wrong data", func(c Challenge, data []byte) [ProofSize]byte {
				return SourceProof(c.Salt, testHash, c.Piece, c.Chunk, data[1:])
			}},
		}
		for _, b := range bad {
			c, err := p.Challenge(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := read(c.Piece, c.Chunk)
			if err := p.Verify(c.Salt, c.Piece, c.Chunk, b.forge(c, data), read); !errors.Is(err, ErrBadProof) {
				t.Errorf("%s: err = %v, want ErrBadProof", b.name, err)
			}
			// The failed attempt consumed the challenge: the right answer now comes too late.
			if err := p.Verify(c.Salt, c.Piece, c.Chunk, answer(c), read); !errors.Is(err, ErrUnknownChallenge) {
				t.Errorf("%s, second attempt: err = %v, want ErrUnknownChallenge", b.name, err)
			}
		}
		c, _ := p.Challenge(rand.Reader)
		data, _ := read(c.Piece, c.Chunk)
		if err := p.Verify(flip(c.Salt), c.Piece, c.Chunk, SourceProof(flip(c.Salt), testHash, c.Piece, c.Chunk, data), read); !errors.Is(err, ErrUnknownChallenge) {
			t.Errorf("self-chosen salt: err = %v, want ErrUnknownChallenge", err)
		}
	})
	t.Run("proof for another chunk", func(t *testing.T) {
		p := newP()
		c, _ := p.Challenge(rand.Reader)
		d := c
		d.Piece = (c.Piece + 1) % 2 // pieces 0 and 1 are full: every chunk exists
		if err := p.Verify(c.Salt, d.Piece, d.Chunk, answer(d), read); !errors.Is(err, ErrChallengeMismatch) {
			t.Errorf("err = %v, want ErrChallengeMismatch", err)
		}
	})
	t.Run("chunk uploaded after the challenge", func(t *testing.T) {
		p := newP()
		c, _ := p.Challenge(rand.Reader)
		if !p.Uploaded(c.Piece, c.Chunk*ChunkSize, ChunkSize) {
			t.Fatal("uploading the challenged chunk did not move the challenge")
		}
		if err := p.Verify(c.Salt, c.Piece, c.Chunk, answer(c), read); !errors.Is(err, ErrChunkUploaded) {
			t.Errorf("err = %v, want ErrChunkUploaded", err)
		}
	})
	t.Run("our copy unreadable or wrong size", func(t *testing.T) {
		p := newP()
		c, _ := p.Challenge(rand.Reader)
		boom := errors.New("disk")
		err := p.Verify(c.Salt, c.Piece, c.Chunk, answer(c), func(uint32, uint32) ([]byte, error) { return nil, boom })
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want the read error", err)
		}
		c, _ = p.Challenge(rand.Reader)
		err = p.Verify(c.Salt, c.Piece, c.Chunk, answer(c), func(uint32, uint32) ([]byte, error) { return []byte{1}, nil })
		if err == nil {
			t.Error("short chunk accepted")
		}
	})
	t.Run("outstanding challenges are bounded", func(t *testing.T) {
		p := newP()
		first, _ := p.Challenge(rand.Reader)
		for range MaxOutstanding + 10 {
			c, err := p.Challenge(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.pending) > MaxOutstanding || len(p.order) > 2*MaxOutstanding+1 {
				t.Fatalf("pending %d, queue %d", len(p.pending), len(p.order))
			}
			_ = c
		}
		if err := p.Verify(first.Salt, first.Piece, first.Chunk, answer(first), read); !errors.Is(err, ErrUnknownChallenge) {
			t.Errorf("evicted challenge: err = %v", err)
		}
	})
	t.Run("broken random source", func(t *testing.T) {
		p := newP()
		if _, err := p.Challenge(bytes.NewReader(nil)); err == nil {
			t.Error("empty random source accepted")
		}
		zeros := bytes.NewReader(make([]byte, 2*SaltSize))
		if _, err := p.Challenge(zeros); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Challenge(zeros); err == nil {
			t.Error("repeated salt accepted")
		}
	})
}

// TestSourceProofVector pins the proof layout and the value docs/bep-speed.md uses in its
// source_proof example.
func TestSourceProofVector(t *testing.T) {
	var salt [SaltSize]byte
	for i := range salt {
		salt[i] = byte(i)
	}
	hash, _ := hex.DecodeString("74a323f732e746deac9e29e6e8428d78a68b92cd")
	data := bytes.Repeat([]byte("speed"), 3)
	got := SourceProof(salt, hash, 7, 2, data)
	in := append([]byte(ProofTag), salt[:]...)
	in = append(in, hash...)
	in = append(in, make([]byte, 12)...)
	in = append(in, 0, 0, 0, 7, 0, 0, 0, 2)
	in = append(in, data...)
	if want := sha256.Sum256(in); got != want {
		t.Fatalf("proof %x, want %x", got, want)
	}
	if want := "f16050de428a725070fcf8723473b7685a34ffc5e3111957be010cbdd0e9f188"; hex.EncodeToString(got[:]) != want {
		t.Fatalf("proof %x, the BEP draft says %s", got, want)
	}
}
