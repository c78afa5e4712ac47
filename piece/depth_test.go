package piece

import (
	"math"
	"testing"
	"time"
)

func TestDepth(t *testing.T) {
	c := DefaultDepth()
	tests := []struct {
		name    string
		rate    float64
		snubbed bool
		want    int
	}{
		{"no rate yet", 0, false, 4},
		{"negative", -5, false, 4},
		{"NaN", math.NaN(), false, 4},
		{"slow peer gets the minimum", 10 << 10, false, 4},         // 30 KiB in 3 s = 2 blocks
		{"1 MB/s", 1 << 20, false, 192},                            // 3 MiB / 16 KiB
		{"rounds to nearest", 16384.0 * 10 / 3, false, 10},         // exactly 10 blocks
		{"100 MB/s capped", 100 << 20, false, 500},                 // would be 19200
		{"infinite", math.Inf(1), false, 500},                      // no overflow
		{"snubbed fast peer", 100 << 20, true, 1},                  // snub wins
		{"snubbed idle peer", 0, true, 1},                          // snub wins
		{"huge", 1e300, false, 500},                                // float compare first
		{"just below min", 16384.0 * 3.4 / 3, false, 4},            // 3.4 blocks -> min
		{"just above min", 16384.0 * 4.6 / 3, false, 5},            // 4.6 blocks -> 5
		{"one block per target", BlockSize / 3.0, false, 4},        // 1 block -> min
		{"at max", 16384.0 * 500 / 3, false, 500},                  // exactly max
		{"depth grows with rate", 16384.0 * 50 / 3, false, 50},     // linear
		{"depth grows with rate 2", 16384.0 * 100 / 3, false, 100}, // linear
	}
	for _, tc := range tests {
		if got := c.Depth(tc.rate, tc.snubbed); got != tc.want {
			t.Errorf("%s: Depth(%v, %v) = %d, want %d", tc.name, tc.rate, tc.snubbed, got, tc.want)
		}
	}
	// a config with Max < Min still returns at least Min, and Min 0 means 1
	if got := (DepthConfig{Min: 0, Max: 0, Target: time.Second}).Depth(1e9, false); got != 1 {
		t.Errorf("degenerate config: %d", got)
	}
}

func TestSnubbed(t *testing.T) {
	c := DefaultDepth()
	now := time.Unix(1000, 0)
	tests := []struct {
		name        string
		outstanding int
		last        time.Time
		want        bool
	}{
		{"recent block", 10, now.Add(-time.Second), false},
		{"59 s", 10, now.Add(-59 * time.Second), false},
		{"60 s with requests", 10, now.Add(-60 * time.Second), true},
		{"silent but nothing asked", 0, now.Add(-time.Hour), false},
	}
	for _, tc := range tests {
		if got := c.Snubbed(tc.outstanding, tc.last, now); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}
