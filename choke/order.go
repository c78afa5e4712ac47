package choke

import "slices"

// ordered yields candidates best first without sorting all of them: a rechoke needs a
// handful of slots out of possibly thousands of peers, so it selects the top few in
// O(n·k) and sorts the rest only if skipped entries (repeated keys) exhaust that prefix.
type ordered struct {
	idx    []int
	cmp    func(a, b int) int
	sorted int // idx[:sorted] is in final order and holds the best of idx
}

// partialSortLimit is the prefix length above which a full sort is cheaper than
// insertion selection.
const partialSortLimit = 32

func newOrdered(idx []int, k int, cmp func(a, b int) int) ordered {
	o := ordered{idx: idx, cmp: cmp}
	if k <= 0 {
		return o
	}
	if k >= len(idx) || k > partialSortLimit {
		slices.SortFunc(idx, cmp)
		o.sorted = len(idx)
		return o
	}
	slices.SortFunc(idx[:k], cmp)
	last := k - 1
	for j := k; j < len(idx); j++ {
		x := idx[j]
		if cmp(x, idx[last]) >= 0 {
			continue
		}
		// x enters the prefix; the prefix's worst moves out to x's place.
		idx[j] = idx[last]
		p := last
		for p > 0 && cmp(x, idx[p-1]) < 0 {
			idx[p] = idx[p-1]
			p--
		}
		idx[p] = x
	}
	o.sorted = k
	return o
}

func (o *ordered) len() int { return len(o.idx) }

// at returns the j-th best candidate.
func (o *ordered) at(j int) int {
	if j >= o.sorted {
		slices.SortFunc(o.idx[o.sorted:], o.cmp)
		o.sorted = len(o.idx)
	}
	return o.idx[j]
}
