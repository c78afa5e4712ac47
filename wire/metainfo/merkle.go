package metainfo

import (
	"crypto/sha256"
	"fmt"
)

// blockSize is the leaf size of BEP 52's per-file merkle trees.
const blockSize = 16 << 10

// checkPieceLayers verifies each v2 file longer than a piece against its piece layer: the
// layer must hold one SHA-256 hash per piece and hash up to the file's pieces root. Files of
// at most one piece have no layer (their root is the piece hash). A torrent may leave layers
// out (they can be fetched from peers), but a layer that is present must be right, or the
// pieces it vouches for could never verify.
func checkPieceLayers(info *Info, layers map[[32]byte][]byte) error {
	if len(layers) == 0 {
		return nil
	}
	// The hash of a piece-sized subtree of zero leaves: what pads the piece layer up to a
	// power of two.
	var pad [32]byte
	for n := int64(blockSize); n < info.PieceLength; n *= 2 {
		pad = sha256.Sum256(append(pad[:], pad[:]...))
	}
	for _, f := range info.Files {
		if f.Pad || f.Length <= info.PieceLength {
			continue
		}
		layer, ok := layers[f.PiecesRoot]
		if !ok {
			continue
		}
		pieces := ceilDiv(f.Length, info.PieceLength)
		if int64(len(layer)) != 32*pieces {
			return fmt.Errorf("%w: piece layer of %v has %d bytes, want %d", ErrBadPieces, f.Path, len(layer), 32*pieces)
		}
		if merkleRoot(layer, pad) != f.PiecesRoot {
			return fmt.Errorf("%w: piece layer of %v does not hash to its pieces root", ErrBadPieces, f.Path)
		}
	}
	return nil
}

// merkleRoot returns the root of the tree whose leaves are the 32-byte hashes in layer,
// padded with pad up to a power of two.
func merkleRoot(layer []byte, pad [32]byte) [32]byte {
	nodes := make([][32]byte, 0, len(layer)/32)
	for i := 0; i < len(layer); i += 32 {
		nodes = append(nodes, [32]byte(layer[i:]))
	}
	var buf [64]byte
	for len(nodes) > 1 {
		if len(nodes)%2 == 1 {
			nodes = append(nodes, pad)
		}
		for i := 0; i < len(nodes)/2; i++ {
			copy(buf[:32], nodes[2*i][:])
			copy(buf[32:], nodes[2*i+1][:])
			nodes[i] = sha256.Sum256(buf[:])
		}
		nodes = nodes[:len(nodes)/2]
		pad = sha256.Sum256(append(pad[:], pad[:]...))
	}
	return nodes[0]
}
