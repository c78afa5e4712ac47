package boltstore

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// checkpointEvery is how often logged batches move into bbolt. Each checkpoint is one
	// bbolt transaction (page writes and two fdatasyncs, a few ms); at 10,000 transfers/s a
	// quarter second is ~2,500 batches' worth of receipts in one.
	checkpointEvery = 250 * time.Millisecond
	// checkpointBytes starts a checkpoint early once this much is logged and not in bbolt.
	checkpointBytes = 8 << 20
	// maxPendingBytes bounds the logged records held in memory for the checkpointer (a
	// transfer's record is ~300 bytes, so ~200,000 transfers): when bbolt falls this far
	// behind, Commit waits for it. It is the store's memory bound beyond bbolt's own.
	maxPendingBytes = 64 << 20
)

// checkpointLoop runs checkpoints until Close. A failed checkpoint is kept in s.failed,
// where the next Commit finds it.
func (s *Store) checkpointLoop() {
	defer close(s.done)
	t := time.NewTicker(s.tune.every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.wake:
		}
		if s.checkpoint() != nil {
			return
		}
		s.mu.Lock()
		full := s.segBytes >= segmentSize/4
		s.mu.Unlock()
		s.spareMu.Lock()
		ready := s.spare
		s.spareMu.Unlock()
		if full && !ready {
			// Written under another name, then renamed under spareMu, so that the writer
			// never renames a spare that is still being written. Failing to write one is
			// not fatal: the next segment then starts empty.
			if prepareSpare(s.dir) == nil {
				s.spareMu.Lock()
				s.spare = os.Rename(sparePath(s.dir)+".tmp", sparePath(s.dir)) == nil
				s.spareMu.Unlock()
			}
		}
	}
}

// due asks for a checkpoint before the next tick. s.mu is held.
func (s *Store) due() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// checkpoint moves every pending batch into bbolt in one transaction, with the LSN of the
// last one, then forgets them and deletes the log segments bbolt now holds whole.
func (s *Store) checkpoint() error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.mu.Lock()
	batch, err := s.pending, s.failed
	s.mu.Unlock()
	if err != nil || len(batch) == 0 {
		return err
	}
	last := batch[len(batch)-1].lsn
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, r := range batch {
			d, err := decodeRecord(r.payload)
			if err != nil {
				return fmt.Errorf("record %d: %w", r.lsn, err)
			}
			if err := apply(tx, d); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyLogged, binary.BigEndian.AppendUint64(nil, last))
	})
	s.mu.Lock()
	defer s.cond.Broadcast()
	if err != nil {
		s.failed = fmt.Errorf("boltstore: checkpoint: %w", err)
		s.mu.Unlock()
		return s.failed
	}
	n := 0
	for _, r := range batch {
		n += recHeaderSize + len(r.payload)
	}
	// A new slice, so the checkpointed records' memory goes.
	s.pending = append([]logged(nil), s.pending[len(batch):]...)
	s.bytes -= n
	for id, pc := range s.channels {
		if pc.lsn <= last {
			delete(s.channels, id)
		}
	}
	del := s.dropSegments(last)
	s.mu.Unlock()
	s.removeSegments(del)
	return nil
}

// dropSegments takes off s.segs, and returns, the segments whose records are all at or
// before LSN last; never the newest, which the writer appends to. s.mu is held.
func (s *Store) dropSegments(last uint64) []uint64 {
	var del []uint64
	for len(s.segs) > 1 && s.segs[1] <= last+1 {
		del = append(del, s.segs[0])
		s.segs = s.segs[1:]
	}
	return del
}

// removeSegments deletes segments, oldest first. One that cannot be deleted stays, with all
// after it (the log must stay a chain), and is tried again at the next checkpoint: its
// records are skipped on replay, bbolt has them.
func (s *Store) removeSegments(del []uint64) {
	for i, first := range del {
		if err := os.Remove(segPath(s.dir, first)); err != nil && !os.IsNotExist(err) {
			s.mu.Lock()
			s.segs = append(append([]uint64(nil), del[i:]...), s.segs...)
			s.mu.Unlock()
			return
		}
	}
}
