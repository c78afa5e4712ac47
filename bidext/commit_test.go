package bidext

import (
	"testing"
	"time"
)

// TestCommittedRaiseWaits: a raise applies only a full commitment window after it was
// announced; a decrease applies at once; the first reserve applies at once.
func TestCommittedRaiseWaits(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	var c Committed
	c.Announce(t0, 100)
	for _, tc := range []struct {
		at   time.Duration
		do   func()
		want uint64
	}{
		{0, nil, 100},
		{time.Minute, func() { c.Announce(t0.Add(time.Minute), 5000) }, 100}, // raise after seeing bids
		{ReserveCommitment, nil, 100},
		{ReserveCommitment + time.Minute - time.Second, nil, 100},
		{ReserveCommitment + time.Minute, nil, 5000}, // now in force
		{ReserveCommitment + 2*time.Minute, func() { c.Announce(t0.Add(ReserveCommitment+2*time.Minute), 10) }, 10},
		{2*ReserveCommitment + 2*time.Minute, nil, 10},
	} {
		if tc.do != nil {
			tc.do()
		}
		if got := c.InForce(t0.Add(tc.at)); got != tc.want {
			t.Errorf("at %v: reserve in force %d, want %d", tc.at, got, tc.want)
		}
	}
}

// TestCommittedBounded: however often the reserve changes, the history stays within
// MaxCommitted and the reserve in force is never above any price announced in the window.
func TestCommittedBounded(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	var c Committed
	for i := range 5 * MaxCommitted {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		p := uint64(1000 + i%7*100)
		c.Announce(now, p)
		if len(c.hist) > MaxCommitted {
			t.Fatalf("history %d > %d", len(c.hist), MaxCommitted)
		}
		if got := c.InForce(now); got > p {
			t.Fatalf("in force %d above the price %d just announced", got, p)
		}
	}
}
