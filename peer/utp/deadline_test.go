package utp

import (
	"testing"
	"time"
)

// One timer serves a deadline moved later and earlier: a deadline moved later is not
// closed when the timer armed for the earlier one fires (the timer arms again), one moved
// earlier closes, and clearing it opens a new channel.
func TestDeadlineReusesTimer(t *testing.T) {
	d := newDeadline()
	defer d.stop()
	d.set(time.Now().Add(20 * time.Millisecond))
	far := time.Now().Add(time.Hour)
	d.set(far)
	// Wait (bounded) for the 20 ms timer to fire and arm again for the hour.
	for end := time.Now().Add(10 * time.Second); ; {
		d.mu.Lock()
		rearmed := d.armed.Equal(far)
		d.mu.Unlock()
		if rearmed {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the timer did not arm again for the later deadline")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if isClosed(d.wait()) {
		t.Fatal("closed at the earlier deadline after it was moved an hour later")
	}
	d.set(time.Now().Add(time.Millisecond))
	select {
	case <-d.wait():
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline moved earlier never passed")
	}
	d.set(time.Time{})
	if isClosed(d.wait()) {
		t.Fatal("clearing the deadline left the channel closed")
	}
	d.set(time.Now().Add(-time.Second))
	if !isClosed(d.wait()) {
		t.Fatal("a deadline in the past did not close at once")
	}
}
