package storage

import (
	"crypto/sha256"
	"slices"

	"github.com/speedbt/btt/piece"
)

// V2Piece is what one piece of a v2 or hybrid torrent must hash to under BEP 52. A v2
// piece lies within one file (files start on piece boundaries); its 16 KiB blocks of file
// data are the leaves of a merkle subtree, padded with zero hashes to Width leaves.
type V2Piece struct {
	// Root is the piece's node in its file's piece layer, or the file's pieces root when
	// the file is no longer than one piece.
	Root [32]byte
	// Data is the number of file bytes at the piece's start; the rest of the piece (the
	// padding before the next file) is not hashed.
	Data int64
	// Width is the subtree's leaf count: blocks per piece, or for a file no longer than
	// one piece the next power of two of its blocks.
	Width int
}

// v2Leaf is the leaf hash of the block at begin of a piece whose first p.Data bytes are
// file data, and false for a block of padding only.
func v2Leaf(p V2Piece, begin int64, data []byte) ([32]byte, bool) {
	if begin >= p.Data {
		return [32]byte{}, false
	}
	return sha256.Sum256(data[:min(int64(len(data)), p.Data-begin)]), true
}

// v2Leaves is how many leaves (data blocks) a piece has.
func v2Leaves(p V2Piece) int { return int((p.Data + BlockSize - 1) / BlockSize) }

// v2Check reports whether a piece's leaf hashes give its root.
func v2Check(p V2Piece, leaves [][32]byte) bool {
	return piece.MerkleRoot(leaves[:v2Leaves(p)], p.Width, 0) == p.Root
}

// FailedLeaves returns the leaf hashes of the data blocks of piece's latest failed attempt
// (v2 and hybrid torrents), or nil. Compared with the piece's true block hashes (a peer's
// answer to a hash request, checked against the piece's root), they name the bad blocks at
// once, without waiting for the piece to be downloaded again.
func (t *Torrent) FailedLeaves(piece int) [][32]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.failedLeaves[piece])
}
