package piece

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// naiveRoot builds the whole padded leaf layer and hashes it pairwise: the definition
// MerkleRoot must agree with.
func naiveRoot(leaves [][32]byte, width int) [32]byte {
	layer := make([][32]byte, width)
	copy(layer, leaves)
	for len(layer) > 1 {
		next := make([][32]byte, len(layer)/2)
		for i := range next {
			next[i] = sha256.Sum256(append(layer[2*i][:], layer[2*i+1][:]...))
		}
		layer = next
	}
	return layer[0]
}

func randLeaves(r *rand.Rand, n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		for j := range out[i] {
			out[i][j] = byte(r.Uint32())
		}
	}
	return out
}

func TestMerkleRootMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := r.IntN(70)
		width := 1 << Log2Ceil(max(n, 1))
		width <<= r.IntN(3)
		leaves := randLeaves(r, n)
		if got, want := MerkleRoot(leaves, width, 0), naiveRoot(leaves, width); got != want {
			t.Fatalf("%d leaves, width %d: %x, want %x", n, width, got, want)
		}
	}
}

// TestPieceLayerHashesToFileRoot is BEP 52's consistency: the root over a file's block
// leaves equals the root over its piece roots padded with the piece layer's zero hash.
func TestPieceLayerHashesToFileRoot(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		pieceLength := int64(BlockSize) << r.IntN(4)
		length := 1 + r.Int64N(20*pieceLength)
		g := NewFileGeometry(length, pieceLength)
		leaves := randLeaves(r, g.Blocks)
		root := MerkleRoot(leaves, g.Width(0), 0)
		bpp := 1 << g.PieceLayer
		var layer [][32]byte
		for p := range g.Pieces() {
			layer = append(layer, g.PieceRoot(leaves[p*bpp:min((p+1)*bpp, len(leaves))]))
		}
		if g.Pieces() == 1 {
			if layer[0] != root {
				t.Fatalf("one-piece file of %d bytes: piece root is not the file root", length)
			}
			continue
		}
		if got := MerkleRoot(layer, g.Width(g.PieceLayer), g.PieceLayer); got != root {
			t.Fatalf("file of %d bytes, piece %d: piece layer root %x, leaves root %x", length, pieceLength, got, root)
		}
	}
}

func TestFileGeometry(t *testing.T) {
	for _, tc := range []struct {
		length, pieceLength        int64
		blocks, layers, pieces, w0 int
	}{
		{1, 16 << 10, 1, 0, 1, 1},
		{16 << 10, 16 << 10, 1, 0, 1, 1},
		{16<<10 + 1, 16 << 10, 2, 1, 2, 2},
		{5 * 16 << 10, 64 << 10, 5, 3, 2, 8},
		{3 * 16 << 10, 64 << 10, 3, 2, 1, 4},
	} {
		g := NewFileGeometry(tc.length, tc.pieceLength)
		if g.Blocks != tc.blocks || g.Layers() != tc.layers || g.Pieces() != tc.pieces || g.Width(0) != tc.w0 {
			t.Errorf("%d/%d: blocks %d layers %d pieces %d width %d, want %d %d %d %d", tc.length, tc.pieceLength,
				g.Blocks, g.Layers(), g.Pieces(), g.Width(0), tc.blocks, tc.layers, tc.pieces, tc.w0)
		}
	}
}

func TestCheckRange(t *testing.T) {
	g := NewFileGeometry(10*BlockSize, 4*BlockSize) // 16 leaves, 4 layers above; pieces at layer 2
	for _, tc := range []struct {
		base, index, count, proof int
		ok                        bool
	}{
		{0, 0, 16, 3, true},
		{0, 0, 16, 4, false},
		{0, 8, 8, 1, true},
		{0, 8, 9, 0, false},
		{0, 16, 1, 0, false},
		{2, 0, 4, 1, true},
		{2, 0, 4, 2, false},
		{3, 1, 1, 0, true},
		{4, 0, 1, 0, false},
		{0, -1, 1, 0, false},
		{0, 0, 0, 0, false},
	} {
		if got := g.CheckRange(tc.base, tc.index, tc.count, tc.proof); got != tc.ok {
			t.Errorf("%+v: %v", tc, got)
		}
	}
}

// TestProofRoundTrip: for random files and aligned ranges, the hashes ProofHashes gives
// from a full tree verify against the root with VerifyProof, and any flipped hash fails.
func TestProofRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		pieceLength := int64(BlockSize) << r.IntN(4)
		g := NewFileGeometry(1+r.Int64N(40*pieceLength), pieceLength)
		if g.Layers() == 0 {
			continue
		}
		leaves := randLeaves(r, g.Blocks)
		tree := Layers(leaves, g.Width(0), 0)
		root := tree[len(tree)-1][0]
		node := func(l, i int) ([32]byte, bool) { return tree[l][i], true }
		base := r.IntN(g.Layers())
		s := r.IntN(g.Layers() - base + 1)
		count := 1 << s
		if count > g.Width(base) {
			continue
		}
		index := count * r.IntN(g.Width(base)/count)
		proof := g.Layers() - base - 1
		if !g.CheckRange(base, index, count, proof) {
			t.Fatalf("range %d/%d/%d/%d refused", base, index, count, proof)
		}
		hs, ok := ProofHashes(base, index, count, proof, node)
		if !ok {
			t.Fatal("ProofHashes failed with every node known")
		}
		want := proof - Log2Ceil(count) + 1
		if len(hs) != count+max(0, want) {
			t.Fatalf("%d hashes for count %d proof %d", len(hs), count, proof)
		}
		got, ok := VerifyProof(root, base, index, count, proof, hs)
		if !ok || len(got) != count || got[0] != tree[base][index] {
			t.Fatalf("base %d index %d count %d proof %d: did not verify", base, index, count, proof)
		}
		bad := append([][32]byte(nil), hs...)
		bad[r.IntN(len(bad))][0] ^= 1
		if _, ok := VerifyProof(root, base, index, count, proof, bad); ok {
			t.Fatalf("base %d index %d count %d: a flipped hash verified", base, index, count)
		}
	}
}
