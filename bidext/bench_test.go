package bidext

import (
	"crypto/rand"
	"testing"
)

func BenchmarkOwed(b *testing.B) {
	var sink uint64
	for i := uint64(0); b.Loop(); i++ {
		v, _ := Owed(2_000_000, i<<18)
		sink += v
	}
	_ = sink
}

func BenchmarkMeterAdd(b *testing.B) {
	var m Meter
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Add(2_000_000, 256<<10); err != nil {
			m = Meter{}
		}
	}
}

// BenchmarkChallengeVerify is one challenge and the check of its proof over a 16 KiB
// chunk (the SHA-256 of the chunk dominates).
func BenchmarkChallengeVerify(b *testing.B) {
	const pieceLen = 256 << 10
	content := torrent(64 * pieceLen)
	read := reader(content, pieceLen)
	p, err := NewPossession(testSecret, testHash, pieceLen, int64(len(content)))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(ChunkSize)
	b.ReportAllocs()
	for b.Loop() {
		c, err := p.Challenge(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		data, _ := read(c.Piece, c.Chunk)
		proof := SourceProof(c.Salt, testHash, c.Piece, c.Chunk, data)
		if err := p.Verify(c.Salt, c.Piece, c.Chunk, proof, read); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUploaded marks one 16 KiB block per call, moving the challenge when it is hit.
func BenchmarkUploaded(b *testing.B) {
	p, err := NewPossession(testSecret, testHash, 1<<20, 1<<34) // 16 GiB, 1 Mi chunks
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := uint32(0); b.Loop(); i++ {
		p.Uploaded(i%(1<<14), (i/(1<<14))%64*ChunkSize, ChunkSize)
	}
}
