package storage

import (
	"crypto/sha1"
	"math/rand/v2"
	"testing"
)

// fixture is a torrent's content with a matching Spec.
type fixture struct {
	spec    Spec
	content []byte // the whole torrent stream, pads as zeros
}

// makeFixture builds a torrent from file lengths (negative = pad file of that size) with
// random content from a seeded RNG.
func makeFixture(t testing.TB, seed uint64, pieceLength int64, lengths ...int64) fixture {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var fx fixture
	fx.spec.PieceLength = pieceLength
	for i, l := range lengths {
		f := File{Length: l, Path: []string{"t", string(rune('a' + i%26)), "f" + string(rune('a'+i))}}
		if l < 0 {
			f = File{Length: -l, Pad: true, Path: []string{".pad", "x"}}
		}
		data := make([]byte, f.Length)
		if !f.Pad {
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
		}
		fx.content = append(fx.content, data...)
		fx.spec.Files = append(fx.spec.Files, f)
	}
	for off := int64(0); off < int64(len(fx.content)); off += pieceLength {
		end := min(off+pieceLength, int64(len(fx.content)))
		fx.spec.Hashes = append(fx.spec.Hashes, sha1.Sum(fx.content[off:end]))
	}
	return fx
}

// block returns the content of block j of piece i on the 16 KiB grid.
func (fx fixture) block(i, j int) []byte {
	off := int64(i)*fx.spec.PieceLength + int64(j)*BlockSize
	end := min(off+BlockSize, int64(i+1)*fx.spec.PieceLength, int64(len(fx.content)))
	return fx.content[off:end]
}

func (fx fixture) blocks(i int) int {
	size := min(fx.spec.PieceLength, int64(len(fx.content))-int64(i)*fx.spec.PieceLength)
	return int((size + BlockSize - 1) / BlockSize)
}

func open(t testing.TB, dir string, fx fixture, opts Options) *Torrent {
	t.Helper()
	tr, err := Open(dir, fx.spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// download writes every block of fx with WriteBlockHashed in order.
func download(t testing.TB, tr *Torrent, fx fixture) {
	t.Helper()
	for i := range fx.spec.Hashes {
		for j := 0; j < fx.blocks(i); j++ {
			if _, err := tr.WriteBlockHashed(i, j*BlockSize, fx.block(i, j)); err != nil {
				t.Fatal(err)
			}
		}
		if !tr.Have(i) {
			t.Fatalf("piece %d not verified after download", i)
		}
	}
}
