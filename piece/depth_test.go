package piece

import (
	"math"
	"testing"
	"time"
)

// depthCase is one call of Depth and what it should return.
type depthCase struct {
	name      string
	rate      float64
	delivered int64
	snubbed   bool
	want      int
}

func checkDepths(t *testing.T, c DepthConfig, cases []depthCase) {
	t.Helper()
	for _, tc := range cases {
		if got := c.Depth(tc.rate, tc.delivered, tc.snubbed); got != tc.want {
			t.Errorf("%s: Depth(%v, %d, %v) = %d, want %d", tc.name, tc.rate, tc.delivered, tc.snubbed, got, tc.want)
		}
	}
}

func TestDepth(t *testing.T) {
	c := DefaultDepth()
	checkDepths(t, c, []depthCase{
		{"no rate yet", 0, 0, false, 4},
		{"negative", -5, 0, false, 4},
		{"NaN", math.NaN(), 0, false, 4},
		{"slow peer gets the minimum", 10 << 10, 0, false, 4},         // 30 KiB in 3 s = 2 blocks
		{"1 MB/s", 1 << 20, 0, false, 192},                            // 3 MiB / 16 KiB
		{"rounds to nearest", 16384.0 * 10 / 3, 0, false, 10},         // exactly 10 blocks
		{"100 MB/s capped", 100 << 20, 0, false, 500},                 // would be 19200
		{"infinite", math.Inf(1), 0, false, 500},                      // no overflow
		{"snubbed fast peer", 100 << 20, 0, true, 1},                  // snub wins
		{"snubbed idle peer", 0, 0, true, 1},                          // snub wins
		{"huge", 1e300, 0, false, 500},                                // float compare first
		{"just below min", 16384.0 * 3.4 / 3, 0, false, 4},            // 3.4 blocks -> min
		{"just above min", 16384.0 * 4.6 / 3, 0, false, 5},            // 4.6 blocks -> 5
		{"one block per target", BlockSize / 3.0, 0, false, 4},        // 1 block -> min
		{"at max", 16384.0 * 500 / 3, 0, false, 500},                  // exactly max
		{"depth grows with rate", 16384.0 * 50 / 3, 0, false, 50},     // linear
		{"depth grows with rate 2", 16384.0 * 100 / 3, 0, false, 100}, // linear
	})
	// a config with Max < Min still returns at least Min, and Min 0 means 1
	if got := (DepthConfig{Min: 0, Max: 0, Target: time.Second}).Depth(1e9, 0, false); got != 1 {
		t.Errorf("degenerate config: %d", got)
	}
}

// Until the rate is measured the depth is Min plus one per block delivered (slow start),
// capped at Max; once it is measured the rate decides, whatever was delivered before.
func TestDepthSlowStart(t *testing.T) {
	c := DefaultDepth()
	checkDepths(t, c, []depthCase{
		{"nothing delivered", 0, 0, false, 4},
		{"a partial block", 0, BlockSize - 1, false, 4},
		{"one block", 0, BlockSize, false, 5},
		{"four blocks: doubled", 0, 4 * BlockSize, false, 8},
		{"a short last block counts as what it is", 0, 10*BlockSize + 100, false, 14},
		{"capped at max", 0, 1 << 30, false, 500},
		{"just below max", 0, 495 * BlockSize, false, 499},
		{"at max", 0, 496 * BlockSize, false, 500},
		{"no overflow", 0, math.MaxInt64, false, 500},
		{"negative count", 0, -BlockSize, false, 4},
		{"NaN rate is no rate", math.NaN(), 8 * BlockSize, false, 12},
		{"measured rate decides", 10 << 10, 1 << 30, false, 4},
		{"measured fast rate", 100 << 20, 0, false, 500},
		{"snub wins", 0, 1 << 30, true, 1},
	})
	// Property: in slow start the depth never shrinks as blocks arrive, stays in [Min,
	// Max], and is never more than Min plus what was delivered (no over-commit).
	prev := 0
	for blocks := int64(0); blocks < 1000; blocks++ {
		d := c.Depth(0, blocks*BlockSize, false)
		if d < prev || d < c.Min || d > c.Max || int64(d) > int64(c.Min)+blocks {
			t.Fatalf("after %d blocks: depth %d (before %d)", blocks, d, prev)
		}
		prev = d
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
