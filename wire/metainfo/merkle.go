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
	pad := pieceLayerPad(info.PieceLength)
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
		if merkleRoot(nodes, nextPow2(len(nodes)), pad) != f.PiecesRoot {
			return fmt.Errorf("%w: piece layer of %v does not hash to its pieces root", ErrBadPieces, f.Path)
		}
	}
	return nil
}

// pieceLayerPad is the hash of a piece-sized subtree of zero leaves: what pads a piece
// layer up to a power of two.
func pieceLayerPad(pieceLength int64) [32]byte {
	var pad [32]byte
	for n := int64(blockSize); n < pieceLength; n *= 2 {
		pad = hashPair(pad, pad)
	}
	return pad
}

// merkleRoot returns the root of a tree width leaves wide (a power of two, at least
// len(nodes)) whose first leaves are nodes and the rest pad. nodes is overwritten.
func merkleRoot(nodes [][32]byte, width int, pad [32]byte) [32]byte {
	if len(nodes) == 0 {
		nodes = append(nodes, pad)
	}
	for ; width > 1; width /= 2 {
		if len(nodes)%2 == 1 {
			nodes = append(nodes, pad)
		}
		for i := range len(nodes) / 2 {
			nodes[i] = hashPair(nodes[2*i], nodes[2*i+1])
		}
		nodes = nodes[:len(nodes)/2]
		pad = hashPair(pad, pad)
	}
	return nodes[0]
}

func hashPair(a, b [32]byte) [32]byte {
	var buf [64]byte
	copy(buf[:32], a[:])
	copy(buf[32:], b[:])
	return sha256.Sum256(buf[:])
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
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
	leaves := make([][32]byte, 0, ceilDiv(int64(len(data)), blockSize))
	for off := 0; off < len(data); off += blockSize {
		leaves = append(leaves, sha256.Sum256(data[off:min(off+blockSize, len(data))]))
	}
	width := int(pieceLength / blockSize)
	if p.small {
		width = nextPow2(len(leaves))
	}
	return merkleRoot(leaves, width, [32]byte{})
}
