package storage

import (
	"crypto/sha1"
	"fmt"
)

// MaxFailedAttempts bounds the failed attempts remembered per piece for BadBlocks; a
// caller that keeps who sent each attempt's blocks keeps as many, newest last.
const MaxFailedAttempts = 8

// recordFailure remembers the SHA-1 of each block of a piece whose hash just failed,
// read back from disk. The caller holds hs.mu, so no new block of the piece can be
// written meanwhile. Failures are rare, so reading the piece again costs little, and it
// spares hashing every block twice on the common path.
func (t *Torrent) recordFailure(piece int) {
	sums, err := t.blockSums(piece)
	if err != nil {
		// The data is unreadable: nothing to compare later, but the attempt is still
		// counted (as nil), so that BadBlocks' attempts line up with the caller's.
		sums = nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures == nil {
		t.failures = make(map[int][][][sha1.Size]byte)
	}
	a := t.failures[piece]
	if len(a) >= MaxFailedAttempts {
		a = a[1:]
	}
	t.failures[piece] = append(a, sums)
}

func (t *Torrent) blockSums(piece int) ([][sha1.Size]byte, error) {
	size := t.PieceSize(piece)
	buf := t.pool.Get()
	defer t.pool.Put(buf)
	sums := make([][sha1.Size]byte, 0, (size+BlockSize-1)/BlockSize)
	off := int64(piece) * t.spec.PieceLength
	for done := int64(0); done < size; done += BlockSize {
		n := min(BlockSize, size-done)
		if err := t.readAt(buf[:n], off+done); err != nil {
			return nil, err
		}
		sums = append(sums, sha1.Sum(buf[:n]))
	}
	return sums, nil
}

// BadBlocks supports smart banning. For a verified piece that failed its hash check
// before, it compares every failed attempt's blocks with the verified data and returns,
// for each failed attempt in the order they failed, the indices of the blocks that
// differed: the senders of exactly those blocks sent bad data (piece.Picker.Failed says
// who sent which block). An attempt whose data could not be read back gives no indices.
// It then forgets the attempts. A piece that never failed gives nil.
func (t *Torrent) BadBlocks(piece int) ([][]int, error) {
	if !t.Have(piece) {
		return nil, fmt.Errorf("%w: piece %d", ErrNotHave, piece)
	}
	t.mu.Lock()
	attempts := t.failures[piece]
	delete(t.failures, piece)
	t.mu.Unlock()
	if len(attempts) == 0 {
		return nil, nil
	}
	good, err := t.blockSums(piece)
	if err != nil {
		return nil, err
	}
	out := make([][]int, len(attempts))
	for a, sums := range attempts {
		for j := range sums {
			if j >= len(good) || sums[j] != good[j] {
				out[a] = append(out[a], j)
			}
		}
	}
	return out, nil
}
