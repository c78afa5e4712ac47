package metrics

import (
	"math"
	"slices"
	"sync"
)

// Hist is a cumulative histogram of observed values (Prometheus's histogram): a count per
// upper bound, their sum and count. Its size is fixed by its bounds, however many values it
// sees. It is safe for concurrent use.
type Hist struct {
	mu     sync.Mutex
	bounds []float64 // ascending upper bounds, +Inf implied
	counts []uint64  // per bucket, not cumulative; the last is +Inf's
	sum    float64
	n      uint64
}

// NewHist returns a histogram with these upper bounds (sorted here; +Inf is implied).
func NewHist(bounds ...float64) *Hist {
	b := slices.Clone(bounds)
	slices.Sort(b)
	b = slices.Compact(b)
	return &Hist{bounds: b, counts: make([]uint64, len(b)+1)}
}

// Observe records one value.
func (h *Hist) Observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v) // the first bound >= v: "le" is inclusive
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.n++
	h.mu.Unlock()
}

// Count returns how many values were observed.
func (h *Hist) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// AddTo appends the histogram's samples to f (whose Kind should be Histogram): a cumulative
// _bucket per bound with its "le" label after labels, then _sum and _count.
func (h *Hist) AddTo(f *Family, labels ...Label) {
	h.mu.Lock()
	counts := slices.Clone(h.counts)
	sum, n := h.sum, h.n
	h.mu.Unlock()
	var cum uint64
	for i, c := range counts {
		cum += c
		le := math.Inf(1)
		if i < len(h.bounds) {
			le = h.bounds[i]
		}
		ls := append(slices.Clip(labels), Label{Name: "le", Value: formatValue(le)})
		f.Samples = append(f.Samples, Sample{Suffix: "_bucket", Labels: ls, Value: float64(cum)})
	}
	f.Samples = append(f.Samples,
		Sample{Suffix: "_sum", Labels: labels, Value: sum},
		Sample{Suffix: "_count", Labels: labels, Value: float64(n)})
}

// ExpBuckets returns n bounds from start, each factor times the previous.
func ExpBuckets(start, factor float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = start
		start *= factor
	}
	return out
}
