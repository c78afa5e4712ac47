package metainfo

import (
	"fmt"

	"github.com/speedbt/btt/piece"
)

// checkPieceLayers verifies each v2 file longer than a piece against its piece layer: the
// layer must hold one SHA-256 hash per piece and hash up to the file's pieces root. Files of
// at most one piece have no layer (their root is the piece hash). A torrent may leave layers
// out (they can be fetched from peers), but a layer that is present must be right, or the
// pieces it vouches for could never verify.
func checkPieceLayers(info *Info, layers map[[32]byte][]byte) error {
	if len(layers) == 0 {
		return nil
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
		nodes := make([][32]byte, pieces)
		for i := range nodes {
			nodes[i] = [32]byte(layer[32*i:])
		}
		if pieceLayerRoot(nodes, info.PieceLength) != f.PiecesRoot {
			return fmt.Errorf("%w: piece layer of %v does not hash to its pieces root", ErrBadPieces, f.Path)
		}
	}
	return nil
}

// pieceLayerRoot returns the pieces root over a file's piece layer nodes: the tree is padded
// with piece-sized subtrees of zero leaves up to a power of two. nodes is not modified.
func pieceLayerRoot(nodes [][32]byte, pieceLength int64) [32]byte {
	return piece.MerkleRoot(nodes, 1<<piece.Log2Ceil(len(nodes)), piece.Log2Ceil(int(pieceLength/piece.BlockSize)))
}

// v2Piece tells the hasher how a piece of a hybrid torrent maps onto its file: data bytes of
// the file at the piece's start (the rest is padding), and whether the file fits in one
// piece (then the piece's node is the file's pieces root, over a tree as wide as the file's
// blocks need, rather than a piece-layer node over a full piece of leaves).
type v2Piece struct {
	data  int64
	small bool
}

// v2Node returns the SHA-256 merkle node of one piece's file data (BEP 52): the root over
// its 16 KiB blocks, padded with zero leaves to a full piece, or for a small file to the
// next power of two of its blocks.
func v2Node(data []byte, p v2Piece, pieceLength int64) [32]byte {
	leaves := piece.BlockLeaves(make([][32]byte, 0, ceilDiv(int64(len(data)), piece.BlockSize)), data)
	width := int(pieceLength / piece.BlockSize)
	if p.small {
		width = 1 << piece.Log2Ceil(max(len(leaves), 1))
	}
	return piece.MerkleRoot(leaves, width, 0)
}
