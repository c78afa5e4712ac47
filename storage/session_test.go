package storage_test

import (
	"context"
	"crypto/sha1"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/storage"
)

// TestDownloadWithPicker runs the two packages the way a session does: a torrent loop
// owns the piece.Picker and gates every arriving block (Received) before a writer
// goroutine stores and hashes it (WriteBlockHashed); hash results come back to the loop
// as events (Verified / Failed, then smart ban: BadBlocks + Blame). Three honest seeds and
// one that corrupts every block it serves: the download must complete with good data and
// the bad peer, and only it, banned.
func TestDownloadWithPicker(t *testing.T) {
	const pieceLength = 64 << 10
	rng := rand.New(rand.NewPCG(1, 2))
	content := make([]byte, 40*pieceLength-1234)
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	spec := storage.Spec{PieceLength: pieceLength, Files: []storage.File{
		{Path: []string{"t", "a"}, Length: 1000000},
		{Path: []string{"t", "b"}, Length: int64(len(content)) - 1000000},
	}}
	for off := 0; off < len(content); off += pieceLength {
		spec.Hashes = append(spec.Hashes, sha1.Sum(content[off:min(off+pieceLength, len(content))]))
	}
	pool := new(storage.BufferPool)
	tr, err := storage.Open(t.TempDir(), spec, storage.Options{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	picker, err := piece.NewPicker(piece.Layout{NumPieces: len(spec.Hashes), PieceLength: pieceLength, TotalLength: int64(len(content))}, piece.Config{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	blame := piece.Blame[piece.PeerKey]{Limit: 2}

	type delivery struct {
		peer piece.PeerKey
		blk  piece.Block
		buf  *[storage.BlockSize]byte
	}
	type result struct {
		blk piece.Block
		res storage.WriteResult
		err error
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	deliveries := make(chan delivery, 4096)
	writes := make(chan delivery, 4096)
	results := make(chan result, 4096)
	const bad = piece.PeerKey(4)
	reqs := map[piece.PeerKey]chan piece.Block{}
	for k := piece.PeerKey(1); k <= 4; k++ {
		reqs[k] = make(chan piece.Block, 4096)
		picker.AddPeer(k)
		picker.PeerHaveAll(k)
		go func(k piece.PeerKey, in chan piece.Block) { // the remote peer and our reader
			for b := range in {
				buf := pool.Get()
				off := int(b.Piece)*pieceLength + int(b.Begin)
				copy(buf[:], content[off:off+int(b.Length)])
				if k == bad {
					buf[7] ^= 0x55
				}
				select {
				case deliveries <- delivery{k, b, buf}:
				case <-ctx.Done():
					return
				}
			}
		}(k, reqs[k])
	}
	for w := 0; w < 2; w++ { // disk writers
		go func() {
			for d := range writes {
				res, err := tr.WriteBlockHashed(int(d.blk.Piece), int(d.blk.Begin), d.buf[:d.blk.Length])
				pool.Put(d.buf)
				results <- result{d.blk, res, err}
			}
		}()
	}
	defer close(writes)

	banned := map[piece.PeerKey]bool{}
	var dst []piece.Block
	refill := func() {
		for k, ch := range reqs {
			if banned[k] {
				continue
			}
			dst = picker.Pick(k, 8-len(picker.Outstanding(k)), dst[:0])
			for _, b := range dst {
				ch <- b
			}
		}
	}
	failures := 0
	failedBy := map[int][][]piece.PeerKey{} // piece -> failed attempts -> sender of each block
	ban := func(k piece.PeerKey) {
		if blame.Strike(k) && !banned[k] {
			banned[k] = true
			picker.RemovePeer(k)
			close(reqs[k])
		}
	}
	refill()
	for !picker.Complete() {
		select {
		case <-ctx.Done():
			t.Fatalf("download stalled: %d of %d pieces", picker.Have().Count(), len(spec.Hashes))
		case d := <-deliveries:
			if banned[d.peer] {
				pool.Put(d.buf)
				continue
			}
			_, _, err := picker.Received(d.peer, d.blk)
			if err != nil {
				pool.Put(d.buf) // endgame duplicate or late block: never written
				continue
			}
			writes <- d
		case r := <-results:
			switch {
			case r.err != nil:
				t.Fatal(r.err)
			case r.res == storage.PieceVerified:
				i := int(r.blk.Piece)
				picker.Verified(i)
				if attempts := failedBy[i]; attempts != nil {
					delete(failedBy, i)
					bad, err := tr.BadBlocks(i)
					if err != nil || len(bad) != len(attempts) {
						t.Fatalf("BadBlocks(%d) = %v, %v for %d attempts", i, bad, err, len(attempts))
					}
					for a, blocks := range bad {
						for _, j := range blocks {
							ban(attempts[a][j])
						}
					}
				}
			case r.res == storage.PieceFailed:
				failures++
				i := int(r.blk.Piece)
				failedBy[i] = append(failedBy[i], picker.Failed(i))
			case r.res == storage.BlockDuplicate:
				t.Fatalf("block %v written twice although the picker gates duplicates", r.blk)
			}
		}
		refill()
	}
	// Whether the liar reaches the ban limit before the download ends depends on timing
	// (it may spoil only one piece); that it, and only it, is struck does not.
	for k := range reqs {
		if got := blame.Strikes(k); (k == bad && failures > 0) != (got > 0) {
			t.Errorf("peer %d has %d strikes; only peer %d should have any", k, got, bad)
		}
	}
	if len(banned) > 1 || (len(banned) == 1 && !banned[bad]) {
		t.Fatalf("banned %v, want at most peer %d", banned, bad)
	}
	have, err := tr.Recheck(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range have {
		if !h {
			t.Fatalf("piece %d bad on disk", i)
		}
	}
	st := tr.Stats()
	if st.PiecesFailed != int64(failures) || st.PiecesVerified != int64(len(spec.Hashes)) {
		t.Fatalf("stats %+v, failures %d", st, failures)
	}
	t.Logf("%d hash failures before the bad peer was banned; stats %+v", failures, st)
}
