package peer

import (
	"context"
	"testing"
	"time"
)

func TestLimiterDebt(t *testing.T) {
	l := newLimiter(1 << 20) // 1 MiB/s, burst 256 KiB
	ctx := context.Background()
	// The burst is free; the next MiB must wait about a second in total.
	if err := l.wait(ctx, 256<<10); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 4 {
		if err := l.wait(ctx, 64<<10); err != nil {
			t.Fatal(err)
		}
	}
	// 256 KiB of debt at 1 MiB/s is 250 ms; allow for refill during the loop itself.
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("256 KiB beyond the burst took %v, want about 250ms", d)
	}
	var nilLimiter *limiter
	if err := nilLimiter.wait(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.wait(cancelled, 10<<20); err == nil {
		t.Error("wait with a cancelled context returned nil")
	}
}

// TestLimiterSet: a limit set while running applies to the next wait, and lifting it lets
// any amount through at once.
func TestLimiterSet(t *testing.T) {
	ctx := context.Background()
	l := newLimiter(0)
	if err := l.wait(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	l.set(1 << 20)
	if err := l.wait(ctx, 256<<10); err != nil { // the burst
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if err := l.wait(short, 1<<20); err == nil {
		t.Error("a MiB beyond the burst at 1 MiB/s did not wait")
	}
	l.set(0)
	if err := l.wait(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
}
