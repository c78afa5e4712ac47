package storage

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sync"
	"sync/atomic"
)

// WriteResult says what WriteBlockHashed did with a block.
type WriteResult uint8

const (
	// BlockStored: the block is on disk; its piece is not complete yet.
	BlockStored WriteResult = iota
	// BlockDuplicate: the piece already has this block (endgame duplicate, or the piece is
	// verified); nothing was written, so a second copy can never overwrite the first.
	BlockDuplicate
	// PieceVerified: this block completed its piece and the piece's SHA-1 matched. The
	// piece is marked verified.
	PieceVerified
	// PieceFailed: this block completed its piece and the SHA-1 did not match. The piece's
	// blocks are forgotten, so it can be downloaded again.
	PieceFailed
)

func (r WriteResult) String() string {
	switch r {
	case BlockStored:
		return "stored"
	case BlockDuplicate:
		return "duplicate"
	case PieceVerified:
		return "verified"
	case PieceFailed:
		return "failed"
	}
	return fmt.Sprintf("WriteResult(%d)", uint8(r))
}

// ErrBadBlock means a block passed to WriteBlockHashed is not one of the piece's 16 KiB
// grid blocks (the only blocks our picker requests).
var ErrBadBlock = errors.New("storage: block not on the 16 KiB grid")

// hasher is the incremental SHA-1 of one piece being downloaded. Blocks are hashed in
// order straight from the caller's buffer; a block that arrives ahead of the hashed
// prefix is copied into a pooled buffer until the prefix reaches it.
type hasher struct {
	mu      sync.Mutex
	h       hash.Hash
	size    int64              // piece length
	hashed  int64              // bytes fed to h
	claimed []bool             // per block: a writer took it (written or being written)
	pending []*[BlockSize]byte // per block: written, ahead of the prefix
	leaves  [][32]byte         // v2: per block, its SHA-256 leaf (zero for padding)
	written int                // v2-only: blocks written
	done    atomic.Bool        // piece verified: late holders see duplicates (set under mu, also read under Torrent.mu)
	refs    int                // goroutines holding this hasher; guarded by Torrent.mu
}

// acquireHasher returns the hasher for a piece, creating it, or nil if the piece is verified.
func (t *Torrent) acquireHasher(piece int) *hasher {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Have(piece) {
		return nil
	}
	hs := t.hashing[piece]
	if hs == nil {
		if n := len(t.spare); n > 0 {
			hs = t.spare[n-1]
			t.spare = t.spare[:n-1]
			if hs.h != nil {
				hs.h.Reset()
			}
		} else {
			hs = &hasher{}
			if t.spec.Hashes != nil {
				hs.h = sha1.New()
			}
		}
		size := t.PieceSize(piece)
		nb := int((size + BlockSize - 1) / BlockSize)
		hs.size, hs.hashed, hs.written = size, 0, 0
		if t.spec.V2 != nil {
			hs.leaves = resize(hs.leaves, nb)
		}
		hs.done.Store(false)
		hs.claimed = resize(hs.claimed, nb)
		hs.pending = resize(hs.pending, nb)
		t.hashing[piece] = hs
	}
	hs.refs++
	return hs
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// releaseHasher drops a reference; a finished hasher is recycled when nobody holds it.
func (t *Torrent) releaseHasher(hs *hasher) {
	t.mu.Lock()
	hs.refs--
	if hs.refs == 0 && hs.done.Load() {
		t.spare = append(t.spare, hs)
	}
	t.mu.Unlock()
}

// WriteBlockHashed writes a downloaded block and feeds it to its piece's SHA-1. Blocks
// may come in any order and from any goroutine: several peers' readers may deliver
// blocks of one piece at once. A block must be one of the piece's 16 KiB grid blocks
// (the last one shorter). Only the first copy of a block is written; later copies are
// reported as BlockDuplicate, so the bytes hashed are always the bytes on disk.
//
// In-order blocks are hashed from data directly and cost no allocation. The result says
// whether this block completed the piece and whether the piece verified; the write error
// leaves the block unclaimed, so it can be written again.
func (t *Torrent) WriteBlockHashed(piece, begin int, data []byte) (WriteResult, error) {
	size := t.PieceSize(piece)
	if size == 0 || begin < 0 || begin%BlockSize != 0 || int64(begin) >= size ||
		int64(len(data)) != min(BlockSize, size-int64(begin)) {
		return 0, fmt.Errorf("%w: piece %d [%d+%d]", ErrBadBlock, piece, begin, len(data))
	}
	if t.closed.Load() {
		return 0, ErrClosed
	}
	hs := t.acquireHasher(piece)
	if hs == nil {
		t.stats.blocksDuplicate.Add(1)
		return BlockDuplicate, nil
	}
	defer t.releaseHasher(hs)
	bi := begin / BlockSize

	hs.mu.Lock()
	if hs.done.Load() || hs.claimed[bi] {
		hs.mu.Unlock()
		t.stats.blocksDuplicate.Add(1)
		return BlockDuplicate, nil
	}
	hs.claimed[bi] = true
	hs.mu.Unlock()

	// Write outside the lock: other blocks of the piece are written in parallel, and
	// hashed too for v2, whose leaves do not depend on order.
	off := int64(piece)*t.spec.PieceLength + int64(begin)
	err := t.writeAt(data, off)
	var leaf [32]byte
	if err == nil && t.spec.V2 != nil {
		leaf, _ = v2Leaf(t.spec.V2[piece], int64(begin), data)
	}

	hs.mu.Lock()
	defer hs.mu.Unlock()
	if err != nil {
		hs.claimed[bi] = false
		return 0, err
	}
	if t.spec.V2 != nil {
		hs.leaves[bi] = leaf
	}
	if hs.h == nil {
		// v2-only: the piece is complete when every block is in.
		if hs.written++; hs.written < len(hs.claimed) {
			return BlockStored, nil
		}
		return t.finishPiece(piece, hs, true), nil
	}
	if int64(begin) != hs.hashed {
		buf := t.pool.Get()
		copy(buf[:], data)
		hs.pending[bi] = buf
		return BlockStored, nil
	}
	hs.h.Write(data)
	hs.hashed += int64(len(data))
	for hs.hashed < hs.size {
		next := int(hs.hashed / BlockSize)
		buf := hs.pending[next]
		if buf == nil {
			break
		}
		n := min(BlockSize, hs.size-hs.hashed)
		hs.h.Write(buf[:n])
		hs.hashed += n
		hs.pending[next] = nil
		t.pool.Put(buf)
	}
	if hs.hashed < hs.size {
		return BlockStored, nil
	}
	var sum [sha1.Size]byte
	hs.h.Sum(sum[:0])
	return t.finishPiece(piece, hs, sum == t.spec.Hashes[piece]), nil
}

// finishPiece settles a piece whose every block is written: it passes when ok (its SHA-1,
// or nothing for v2-only) and its v2 tree, if any, agree. The caller holds hs.mu.
func (t *Torrent) finishPiece(piece int, hs *hasher, ok bool) WriteResult {
	if ok && t.spec.V2 != nil {
		ok = v2Check(t.spec.V2[piece], hs.leaves)
	}
	if !ok {
		// Start the piece over. Every claimed block was hashed, so no write is in flight.
		t.recordFailure(piece)
		if t.spec.V2 != nil {
			t.mu.Lock()
			if t.failedLeaves == nil {
				t.failedLeaves = make(map[int][][32]byte)
			}
			t.failedLeaves[piece] = slices.Clone(hs.leaves[:v2Leaves(t.spec.V2[piece])])
			t.mu.Unlock()
		}
		if hs.h != nil {
			hs.h.Reset()
		}
		hs.hashed, hs.written = 0, 0
		clear(hs.claimed)
		t.stats.piecesFailed.Add(1)
		return PieceFailed
	}
	hs.done.Store(true)
	t.mu.Lock()
	t.setHave(piece, true)
	delete(t.hashing, piece)
	delete(t.failedLeaves, piece)
	t.mu.Unlock()
	t.stats.piecesVerified.Add(1)
	return PieceVerified
}
