package bench

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{ms(4, 1, 3, 2), 100, 4 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 10, time.Millisecond},
	} {
		if got := Percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
}

func TestJain(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{0, 0}, 0},
		{[]float64{5, 5, 5, 5}, 1},
		{[]float64{8, 0, 0, 0}, 0.25},
		{[]float64{1, 3}, 16.0 / 20},
	} {
		if got := Jain(tc.in); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Jain(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestSamplerBounded: however many durations a peer records, its reservoir holds at most
// maxSamples, and a uniform stream keeps its median.
func TestSamplerBounded(t *testing.T) {
	s := newSampler(42)
	for i := range 100_000 {
		s.add(time.Duration(i % 1000))
	}
	if len(s.keep) != maxSamples {
		t.Fatalf("reservoir holds %d, want %d", len(s.keep), maxSamples)
	}
	if p50 := Percentile(s.keep, 50); p50 < 400 || p50 > 600 {
		t.Errorf("median of a uniform 0..999 stream sampled as %v", p50)
	}
}
