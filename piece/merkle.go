package piece

import (
	"crypto/sha256"
	"math/bits"
	"slices"
)

// BEP 52 merkle trees. Each file of a v2 torrent has a binary SHA-256 tree whose leaves
// are the hashes of its 16 KiB blocks (the last one shorter), padded with zero hashes to a
// power of two; its root is the file's "pieces root". The layer whose nodes each cover one
// piece is the "piece layer". Layers are numbered from the leaves (0) up.

// ZeroHash returns the node at the given layer of a subtree whose leaves are all zero
// hashes: what pads a layer whose real nodes ran out.
func ZeroHash(layer int) [32]byte {
	var h [32]byte
	for range layer {
		h = HashPair(h, h)
	}
	return h
}

// HashPair is the parent of two merkle nodes.
func HashPair(a, b [32]byte) [32]byte {
	var buf [64]byte
	copy(buf[:32], a[:])
	copy(buf[32:], b[:])
	return sha256.Sum256(buf[:])
}

// Log2Ceil is the number of layers above the leaves of a tree with n leaves (n >= 1).
func Log2Ceil(n int) int { return bits.Len(uint(n - 1)) }

// MerkleRoot returns the root of a subtree whose base layer (at height layer of the file's
// tree) starts with nodes and is padded with that layer's zero hashes to width nodes, a
// power of two at least len(nodes). nodes is not modified.
func MerkleRoot(nodes [][32]byte, width, layer int) [32]byte {
	cur := slices.Clone(nodes)
	pad := ZeroHash(layer)
	for ; width > 1; width /= 2 {
		if len(cur)%2 == 1 {
			cur = append(cur, pad)
		}
		for i := range len(cur) / 2 {
			cur[i] = HashPair(cur[2*i], cur[2*i+1])
		}
		cur = cur[:len(cur)/2]
		pad = HashPair(pad, pad)
	}
	if len(cur) == 0 {
		return pad
	}
	return cur[0]
}

// BlockLeaves appends the leaf hashes of data, cut into 16 KiB blocks (the last shorter).
func BlockLeaves(dst [][32]byte, data []byte) [][32]byte {
	for off := 0; off < len(data); off += BlockSize {
		dst = append(dst, sha256.Sum256(data[off:min(off+BlockSize, len(data))]))
	}
	return dst
}

// FileGeometry is the shape of one file's tree in a torrent with the given piece length.
type FileGeometry struct {
	Blocks     int // 16 KiB blocks in the file, at least 1
	PieceLayer int // the layer of piece nodes: log2(piece length / 16 KiB)
}

// NewFileGeometry returns the geometry of a non-empty file of length bytes.
func NewFileGeometry(length, pieceLength int64) FileGeometry {
	return FileGeometry{
		Blocks:     int(max(1, (length+BlockSize-1)/BlockSize)),
		PieceLayer: Log2Ceil(int(pieceLength / BlockSize)),
	}
}

// Layers is the number of layers above the leaves: the root's layer.
func (g FileGeometry) Layers() int { return Log2Ceil(g.Blocks) }

// Width is the number of nodes in a layer, padding included.
func (g FileGeometry) Width(layer int) int {
	if layer > g.Layers() {
		return 0
	}
	return 1 << (g.Layers() - layer)
}

// Pieces is the number of real (unpadded) nodes in the piece layer: the file's pieces.
func (g FileGeometry) Pieces() int { return (g.Blocks + 1<<g.PieceLayer - 1) >> g.PieceLayer }

// PieceRoot is the node a piece's blocks must hash to: its piece-layer node, or for a file
// no longer than one piece the pieces root, over only as many leaves as the file needs.
// leaves are the piece's block hashes; the rest of the piece is zero-hash padding, which
// is how BEP 52 treats the end of the last piece.
func (g FileGeometry) PieceRoot(leaves [][32]byte) [32]byte {
	return MerkleRoot(leaves, 1<<min(g.PieceLayer, g.Layers()), 0)
}

// CheckRange reports whether a hash request's range [index, index+count) of layer base,
// with proof layers of uncles above it, lies inside the file's tree, by libtorrent 2.0's
// rule: the range may reach into the padding of its layer but not past it, the root's
// layer is never asked for, and the proof stops below the root.
func (g FileGeometry) CheckRange(base, index, count, proof int) bool {
	if base < 0 || index < 0 || count < 1 || proof < 0 || base >= g.Layers() {
		return false
	}
	w := g.Width(base)
	return index < w && count <= w-index && proof < g.Layers()-base
}

// Layers returns every layer of the subtree over nodes (at height layer of the file's
// tree), padded with zero hashes to width nodes (a power of two): out[0] is the padded
// base, out[len-1] the one-node root.
func Layers(nodes [][32]byte, width, layer int) [][][32]byte {
	base := make([][32]byte, width)
	copy(base, nodes)
	pad := ZeroHash(layer)
	for i := len(nodes); i < width; i++ {
		base[i] = pad
	}
	out := [][][32]byte{base}
	for cur := base; len(cur) > 1; {
		next := make([][32]byte, len(cur)/2)
		for i := range next {
			next[i] = HashPair(cur[2*i], cur[2*i+1])
		}
		out = append(out, next)
		cur = next
	}
	return out
}

// ProofHashes answers a hash request (BEP 52) from a source of tree nodes: the count nodes
// of layer base from index, then the uncles, the siblings of the first node's ancestors
// from the layer where the range's own subtree ends up to base+proof (libtorrent's order
// and count, wire.HashReq.UncleCount). The range must have passed CheckRange. ok is false
// when node cannot give a hash.
func ProofHashes(base, index, count, proof int, node func(layer, index int) ([32]byte, bool)) (hashes [][32]byte, ok bool) {
	for i := range count {
		h, ok := node(base, index+i)
		if !ok {
			return nil, false
		}
		hashes = append(hashes, h)
	}
	for l := base + Log2Ceil(count); l <= base+proof; l++ {
		h, ok := node(l, (index>>(l-base))^1)
		if !ok {
			return nil, false
		}
		hashes = append(hashes, h)
	}
	return hashes, true
}

// VerifyProof checks hashes received for a request whose proof reaches the root (proof =
// the root's layer - base - 1) against the file's root, and returns the base nodes. The
// range must be aligned: count a power of two and index a multiple of it, as requests
// for a whole layer or a piece's blocks are.
func VerifyProof(root [32]byte, base, index, count, proof int, hashes [][32]byte) ([][32]byte, bool) {
	s := Log2Ceil(count)
	if count < 1 || 1<<s != count || index%count != 0 || proof < s-1 {
		return nil, false
	}
	uncles := proof - s + 1
	if len(hashes) != count+uncles {
		return nil, false
	}
	node := MerkleRoot(hashes[:count], count, base)
	pos := index >> s
	for _, u := range hashes[count:] {
		if pos%2 == 0 {
			node = HashPair(node, u)
		} else {
			node = HashPair(u, node)
		}
		pos >>= 1
	}
	if pos != 0 || node != root {
		return nil, false
	}
	return hashes[:count], true
}
