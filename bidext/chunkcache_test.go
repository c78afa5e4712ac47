package bidext

import (
	"errors"
	"testing"
	"time"
)

// TestChunkCache: a cached chunk is served without reading; a flood of distinct chunks
// reads at most the burst, then the rate, and an error is not cached.
func TestChunkCache(t *testing.T) {
	now := time.Unix(1e9, 0)
	reads := 0
	failing := uint32(999)
	read := func(piece, chunk uint32, buf []byte) ([]byte, error) {
		reads++
		if piece == failing {
			return nil, errors.New("no such chunk")
		}
		buf = buf[:100]
		buf[0], buf[1] = byte(piece), byte(chunk)
		return buf, nil
	}
	c := NewChunkCache(read, func() time.Time { return now })
	for range 100 {
		d, err := c.Read(3, 4)
		if err != nil || d[0] != 3 || d[1] != 4 {
			t.Fatalf("Read(3, 4) = %v, %v", d[:2], err)
		}
	}
	if reads != 1 {
		t.Fatalf("%d reads for one chunk asked 100 times", reads)
	}
	if _, err := c.Read(failing, 0); err == nil {
		t.Fatal("a failed read was served")
	}
	if _, err := c.Read(failing, 0); err == nil || reads != 3 {
		t.Fatalf("a failed read was cached (%d reads, %v)", reads, err)
	}
	busy := 0
	for i := range 10000 {
		if _, err := c.Read(uint32(i), 1); errors.Is(err, ErrChunkBusy) {
			busy++
		}
	}
	if reads > chunkReadBurst || busy < 10000-chunkReadBurst {
		t.Fatalf("flood of 10000 chunks: %d reads, %d busy; want at most the burst of %d reads", reads, busy, chunkReadBurst)
	}
	now = now.Add(time.Second)
	got := 0
	for i := range 100 {
		if _, err := c.Read(uint32(20000+i), 1); err == nil {
			got++
		}
	}
	if got != chunkReadRate {
		t.Fatalf("after 1 s: %d reads allowed, want the rate of %d", got, chunkReadRate)
	}
	// The most recent chunks are still cached while the budget is spent.
	if _, err := c.Read(uint32(20000+chunkReadRate-1), 1); err != nil {
		t.Fatalf("a recent chunk was not cached: %v", err)
	}
}
