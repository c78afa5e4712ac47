package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of samples by the nearest-rank
// method, or 0 for no samples. It sorts samples in place.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	slices.Sort(samples)
	rank := int(math.Ceil(p / 100 * float64(len(samples))))
	rank = min(max(rank, 1), len(samples))
	return samples[rank-1]
}

// Jain returns Jain's fairness index of xs: (sum x)^2 / (n * sum x^2). It is 1 when every
// x is equal and 1/n when one x has everything; 0 for no xs or all zero.
func Jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if len(xs) == 0 || sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}

// MinMax returns the smallest and largest of xs (0, 0 for none).
func MinMax(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	return slices.Min(xs), slices.Max(xs)
}

// sampler keeps a bounded, uniform sample of a stream of durations (reservoir sampling),
// so a long run's latency percentiles cost fixed memory per peer.
type sampler struct {
	keep []time.Duration
	seen uint64
	rng  uint64 // xorshift state; deterministic per peer, the sample need not be secret
}

// maxSamples bounds each peer's latency reservoir: 2048 durations (16 KiB) gives p99 to
// within a few tenths of a percent of rank.
const maxSamples = 2048

func newSampler(seed uint64) *sampler { return &sampler{rng: seed | 1} }

func (s *sampler) add(d time.Duration) {
	s.seen++
	if len(s.keep) < maxSamples {
		s.keep = append(s.keep, d)
		return
	}
	s.rng ^= s.rng << 13
	s.rng ^= s.rng >> 7
	s.rng ^= s.rng << 17
	if j := s.rng % s.seen; j < maxSamples {
		s.keep[j] = d
	}
}
