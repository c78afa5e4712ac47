package storage

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"sync"
	"sync/atomic"
)

// recheckChunk is how much of a piece a recheck worker reads per call: large enough that
// syscalls are a small cost next to SHA-1, small enough not to matter times workers.
const recheckChunk = 256 << 10

// Recheck hashes every piece on disk with up to workers goroutines and marks exactly the
// pieces whose hash matches as verified. Missing or short files make their pieces not
// verified; other I/O errors stop the recheck. It returns the verified set. Do not write
// to the torrent while it runs.
func (t *Torrent) Recheck(ctx context.Context, workers int) ([]bool, error) {
	return t.recheck(ctx, workers, nil)
}

// recheck hashes the pieces listed in todo, or all pieces if todo is nil.
func (t *Torrent) recheck(ctx context.Context, workers int, todo []int) ([]bool, error) {
	if t.closed.Load() {
		return nil, ErrClosed
	}
	count := t.numPieces
	if todo != nil {
		count = len(todo)
	}
	workers = max(1, min(workers, count))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, min(recheckChunk, t.spec.PieceLength))
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				if todo != nil {
					i = todo[i]
				}
				ok, err := t.hashPiece(i, buf)
				if err != nil {
					errs[w] = err
					cancel()
					return
				}
				t.setVerified(i, ok)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("storage: recheck: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return t.Pieces(), nil
}

// hashPiece reads piece i through buf (a multiple of the block size, or the piece
// length) and checks its SHA-1 and its v2 tree, whichever the spec has. Missing and short
// files are a mismatch, not an error.
func (t *Torrent) hashPiece(i int, buf []byte) (bool, error) {
	var h hash.Hash
	if t.spec.Hashes != nil {
		h = sha1.New()
	}
	var leaves [][32]byte
	size := t.PieceSize(i)
	off := int64(i) * t.spec.PieceLength
	for done := int64(0); done < size; {
		n := min(int64(len(buf)), size-done)
		if err := t.readAt(buf[:n], off+done); err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrShortFile) {
				return false, nil
			}
			return false, err
		}
		if h != nil {
			h.Write(buf[:n])
		}
		if t.spec.V2 != nil {
			for b := int64(0); b < n; b += BlockSize {
				if leaf, ok := v2Leaf(t.spec.V2[i], done+b, buf[b:min(b+BlockSize, n)]); ok {
					leaves = append(leaves, leaf)
				}
			}
		}
		done += n
	}
	if h != nil {
		var sum [sha1.Size]byte
		if [sha1.Size]byte(h.Sum(sum[:0])) != t.spec.Hashes[i] {
			return false, nil
		}
	}
	return t.spec.V2 == nil || v2Check(t.spec.V2[i], leaves), nil
}

// VerifyPiece hashes piece i from disk and marks it verified if it matches. For data
// written with WriteBlock, or to re-check one piece.
func (t *Torrent) VerifyPiece(i int) (bool, error) {
	if i < 0 || i >= t.numPieces {
		return false, fmt.Errorf("%w: piece %d of %d", ErrRange, i, t.numPieces)
	}
	ok, err := t.hashPiece(i, make([]byte, min(recheckChunk, t.spec.PieceLength)))
	if err != nil {
		return false, err
	}
	t.setVerified(i, ok)
	return ok, nil
}

// setVerified records a hash check of piece i made from disk. A verified piece's
// download state (partial hash, pending blocks) is dropped.
func (t *Torrent) setVerified(i int, ok bool) {
	t.mu.Lock()
	t.setHave(i, ok)
	hs := t.hashing[i]
	if ok {
		delete(t.hashing, i)
	}
	t.mu.Unlock()
	if ok && hs != nil {
		// Writers still holding the hasher must see the piece as done. Taken after t.mu
		// is released: WriteBlockHashed locks hs.mu before t.mu.
		hs.mu.Lock()
		hs.done.Store(true)
		for j, buf := range hs.pending {
			if buf != nil {
				t.pool.Put(buf)
				hs.pending[j] = nil
			}
		}
		hs.mu.Unlock()
	}
}
