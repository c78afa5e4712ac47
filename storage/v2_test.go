package storage

import (
	"context"
	"testing"

	"github.com/speedbt/btt/piece"
)

// makeV2Fixture lays files out as a v2 torrent does (each on a piece boundary, pads
// between them, none after the last) and gives every piece its BEP 52 check. With hybrid
// the SHA-1 hashes stay too.
func makeV2Fixture(t testing.TB, seed uint64, pieceLength int64, hybrid bool, lengths ...int64) fixture {
	t.Helper()
	var withPads []int64
	for i, l := range lengths {
		withPads = append(withPads, l)
		if r := l % pieceLength; r != 0 && i < len(lengths)-1 {
			withPads = append(withPads, -(pieceLength - r))
		}
	}
	fx := makeFixture(t, seed, pieceLength, withPads...)
	if !hybrid {
		fx.spec.Hashes = nil
	}
	var off int64
	for _, f := range fx.spec.Files {
		if f.Pad {
			off += f.Length
			continue
		}
		data := fx.content[off : off+f.Length]
		g := piece.NewFileGeometry(f.Length, pieceLength)
		bpp := int(pieceLength / BlockSize)
		leaves := piece.BlockLeaves(nil, data)
		for p := range g.Pieces() {
			pl := leaves[p*bpp : min((p+1)*bpp, len(leaves))]
			fx.spec.V2 = append(fx.spec.V2, V2Piece{
				Root:  g.PieceRoot(pl),
				Data:  min(pieceLength, f.Length-int64(p)*pieceLength),
				Width: 1 << min(g.PieceLayer, g.Layers()),
			})
		}
		off += f.Length
	}
	return fx
}

func TestV2DownloadVerifies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hybrid bool
		pl     int64
		files  []int64
	}{
		{"v2 one small file", false, 64 << 10, []int64{1000}},
		{"v2 mixed", false, 64 << 10, []int64{1, 70000, 64 << 10, 200000, 16 << 10, 5}},
		{"v2 16k pieces", false, 16 << 10, []int64{40000, 3, 16 << 10}},
		{"hybrid mixed", true, 32 << 10, []int64{100, 90000, 32 << 10, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := makeV2Fixture(t, 1, tc.pl, tc.hybrid, tc.files...)
			tr := open(t, t.TempDir(), fx, Options{})
			n := fx.spec.NumPieces()
			// Blocks of each piece last to first: v2 leaves need no order.
			for i := range n {
				for j := fx.blocks(i) - 1; j >= 0; j-- {
					res, err := tr.WriteBlockHashed(i, j*BlockSize, fx.block(i, j))
					if err != nil {
						t.Fatal(err)
					}
					if want := BlockStored; j == 0 {
						if res != PieceVerified {
							t.Fatalf("piece %d: last block gave %v", i, res)
						}
					} else if res != want {
						t.Fatalf("piece %d block %d: %v", i, j, res)
					}
				}
			}
			ok, err := tr.Recheck(context.Background(), 2)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range ok {
				if !v {
					t.Fatalf("piece %d not verified by recheck", i)
				}
			}
		})
	}
}

func TestV2CorruptBlockFails(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		fx := makeV2Fixture(t, 2, 64<<10, hybrid, 150000, 3000)
		tr := open(t, t.TempDir(), fx, Options{})
		for i := range fx.spec.NumPieces() {
			bad := int((fx.spec.V2[i].Data - 1) / BlockSize) // the last block with file data
			for j := range fx.blocks(i) {
				data := fx.block(i, j)
				if j == bad {
					data = append([]byte(nil), data...)
					data[0] ^= 1
				}
				res, err := tr.WriteBlockHashed(i, j*BlockSize, data)
				if err != nil {
					t.Fatal(err)
				}
				if want := BlockStored; j == fx.blocks(i)-1 {
					want = PieceFailed
					if res != want {
						t.Fatalf("hybrid %v piece %d: corrupt block %d gave %v", hybrid, i, bad, res)
					}
				}
			}
			fl := tr.FailedLeaves(i)
			good := piece.BlockLeaves(nil, fx.content[int64(i)*fx.spec.PieceLength:int64(i)*fx.spec.PieceLength+fx.spec.V2[i].Data])
			if len(fl) != len(good) {
				t.Fatalf("piece %d: %d failed leaves, want %d", i, len(fl), len(good))
			}
			for j := range good {
				if (fl[j] != good[j]) != (j == bad) {
					t.Fatalf("piece %d: failed leaf %d differs %v, bad block is %d", i, j, fl[j] != good[j], bad)
				}
			}
			for j := range fx.blocks(i) {
				if _, err := tr.WriteBlockHashed(i, j*BlockSize, fx.block(i, j)); err != nil {
					t.Fatal(err)
				}
			}
			if !tr.Have(i) {
				t.Fatalf("hybrid %v piece %d not verified on retry", hybrid, i)
			}
			if tr.FailedLeaves(i) != nil {
				t.Fatalf("piece %d: failed leaves kept after it verified", i)
			}
			got, err := tr.BadBlocks(i)
			if err != nil || len(got) != 1 || len(got[0]) != 1 || got[0][0] != bad {
				t.Fatalf("hybrid %v piece %d: BadBlocks %v %v, want [[%d]]", hybrid, i, got, err, bad)
			}
		}
	}
}

// TestV2PaddingIsNotHashed: the bytes of a v2 piece past its file's end are not leaves
// (BEP 52), so garbage sent for them cannot fail a v2-only piece; they are never written.
func TestV2PaddingIsNotHashed(t *testing.T) {
	fx := makeV2Fixture(t, 4, 64<<10, false, 20000, 10)
	tr := open(t, t.TempDir(), fx, Options{})
	for j := range fx.blocks(0) {
		data := append([]byte(nil), fx.block(0, j)...)
		if j >= 2 {
			data[0] = 0xff
		}
		if _, err := tr.WriteBlockHashed(0, j*BlockSize, data); err != nil {
			t.Fatal(err)
		}
	}
	if !tr.Have(0) {
		t.Fatal("piece with garbage padding blocks not verified")
	}
}

func TestV2SpecRejectsBadPieces(t *testing.T) {
	fx := makeV2Fixture(t, 3, 32<<10, false, 50000, 10)
	for _, bad := range []V2Piece{
		{Data: -1, Width: 2},
		{Data: 1 << 20, Width: 2},
		{Data: 100, Width: 3},
		{Data: 100, Width: 4},
		{Data: 32 << 10, Width: 1},
	} {
		spec := fx.spec
		spec.V2 = append([]V2Piece{bad}, fx.spec.V2[1:]...)
		if _, err := Open(t.TempDir(), spec, Options{}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	spec := fx.spec
	spec.V2 = spec.V2[1:]
	if _, err := Open(t.TempDir(), spec, Options{}); err == nil {
		t.Error("too few v2 pieces accepted")
	}
}

// BenchmarkWriteBlockHashedV2 writes and verifies a 16 MiB file in order as v1 (the
// reference, SHA-1), v2-only (SHA-256 leaves and the piece's tree) and hybrid (both), in
// one run so the three can be compared as ratios.
func BenchmarkWriteBlockHashedV2(b *testing.B) {
	for _, kind := range []string{"v1", "v2", "hybrid"} {
		b.Run(kind, func(b *testing.B) {
			fx := makeV2Fixture(b, 44, 256<<10, kind != "v2", 16<<20)
			if kind == "v1" {
				fx.spec.V2 = nil
			}
			tr := open(b, b.TempDir(), fx, Options{})
			bpp := int(fx.spec.PieceLength / BlockSize)
			n := fx.spec.NumPieces() * bpp
			b.SetBytes(BlockSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % n
				if k == 0 && i > 0 {
					for p := range fx.spec.NumPieces() {
						tr.setHave(p, false)
					}
				}
				res, err := tr.WriteBlockHashed(k/bpp, k%bpp*BlockSize, fx.block(k/bpp, k%bpp))
				if err != nil || res == PieceFailed {
					b.Fatal(res, err)
				}
			}
		})
	}
}
