package ledger

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterBounds: the table never holds more than its maximum of addresses, and a
// bucket refills at the rate.
func TestLimiterBounds(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(10, 5, 64)
	for i := range 10_000 {
		l.allow(fmt.Sprint("10.0.", i/256, ".", i%256), 1, now)
		if len(l.buckets) > 64 {
			t.Fatalf("%d buckets after %d addresses, bound 64", len(l.buckets), i+1)
		}
	}
	for i := range 5 {
		if !l.allow("a", 1, now) {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	if l.allow("a", 1, now) {
		t.Fatal("request beyond the burst allowed")
	}
	if !l.allow("a", 1, now.Add(100*time.Millisecond)) { // 10/s: one token per 100 ms
		t.Fatal("no refill")
	}
	if l.allow("a", 1, now.Add(100*time.Millisecond)) {
		t.Fatal("refilled more than the rate")
	}
}
