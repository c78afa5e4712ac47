package boltstore

import (
	"errors"
	"time"
)

// OpenLazy opens a store whose checkpointer runs only when max bytes are pending (or at
// Load and Close), so that tests choose what bbolt holds when they Crash it.
func OpenLazy(path string, max int) (*Store, error) {
	return open(path, tuning{every: time.Hour, early: max, max: max})
}

// Crash stops s as kill -9 would leave it: the log written, nothing more moved into bbolt.
func Crash(s *Store) {
	s.mu.Lock()
	s.failed = errCrashed // the checkpointer, if running, stops at its next turn
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.log.close()
	s.db.Close()
}

var errCrashed = errors.New("crashed")

// Pending reports the batches and bytes logged and not yet in bbolt, and the segments.
func Pending(s *Store) (batches, bytes, segments int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending), s.bytes, len(s.segs)
}

// OpenEvery opens a store that checkpoints every so often.
func OpenEvery(path string, every time.Duration) (*Store, error) {
	return open(path, tuning{every: every, early: checkpointBytes, max: maxPendingBytes})
}

const SegmentSize = segmentSize
