package server

import (
	"cmp"
	"container/heap"
	"net/netip"
	"slices"

	"github.com/speedbt/btt/wire/tracker"
)

// topBids keeps a swarm's highest bidders in order, so that a top-bidder announce reads
// the first entries instead of sorting the swarm under the tracker's lock.
//
// It holds at most cap entries, highest first (ties by address). When complete is false,
// some bidders are left out, and every one of them ranks below every entry held; a query
// that the entries cannot fill then rebuilds the list with one walk of the swarm that
// keeps the best cap in a heap (O(peers * log cap), never a sort of the swarm). Entries
// are kept in step with the swarm by note (a bid set, changed or dropped), and membership
// is the inTop flag of the peer entry.
type topBids struct {
	list     []topEntry
	complete bool
}

type topEntry struct {
	addr netip.AddrPort
	bid  uint64
}

// rankCmp orders entries highest bid first, then by address.
func rankCmp(a, b topEntry) int {
	if c := cmp.Compare(b.bid, a.bid); c != 0 {
		return c
	}
	return a.addr.Compare(b.addr)
}

// topCap is how many bidders a swarm keeps in order: twice the most a query may ask for,
// so that a few expired or excluded entries seldom force a rebuild.
func (t *Tracker) topCap() int { return 2 * t.cfg.MaxNumWant }

// noteBid updates the order for p, whose bid is now p.bid (0: no longer bidding), and
// was old.
func (t *Tracker) noteBid(s *swarm, p *peerEntry, old uint64) {
	tb := &s.top
	if s.bidders == 0 {
		tb.list, tb.complete = tb.list[:0], true
		p.inTop = false
		return
	}
	if p.inTop {
		if p.bid == old {
			return
		}
		i, ok := slices.BinarySearchFunc(tb.list, topEntry{p.addr, old}, rankCmp)
		if ok {
			tb.list = slices.Delete(tb.list, i, i+1)
		}
		p.inTop = false
	}
	if p.bid == 0 {
		return
	}
	e := topEntry{p.addr, p.bid}
	// Outside the list it may only go when it ranks below everything held, as the
	// bidders already left out do.
	if !tb.complete && (len(tb.list) == 0 || rankCmp(e, tb.list[len(tb.list)-1]) > 0) {
		return
	}
	i, _ := slices.BinarySearchFunc(tb.list, e, rankCmp)
	tb.list = slices.Insert(tb.list, i, e)
	p.inTop = true
	if len(tb.list) > t.topCap() {
		last := tb.list[len(tb.list)-1]
		tb.list = tb.list[:len(tb.list)-1]
		if j, ok := s.index[last.addr]; ok {
			s.list[j].inTop = false
		}
		tb.complete = false
	}
}

// rebuildTop selects the best topCap live bidders of s.
func (t *Tracker) rebuildTop(s *swarm, cutoff int64) {
	k := t.topCap()
	h := &minHeap{}
	live := 0
	for i := range s.list {
		p := &s.list[i]
		p.inTop = false
		if p.bid == 0 || p.seen < cutoff {
			continue
		}
		live++
		e := topEntry{p.addr, p.bid}
		if h.Len() < k {
			heap.Push(h, e)
		} else if rankCmp(e, (*h)[0]) < 0 {
			(*h)[0] = e
			heap.Fix(h, 0)
		}
	}
	tb := &s.top
	tb.list = append(tb.list[:0], *h...)
	slices.SortFunc(tb.list, rankCmp) // k entries, not the swarm
	for _, e := range tb.list {
		s.list[s.index[e.addr]].inTop = true
	}
	tb.complete = live <= k
}

// minHeap holds the worst-ranked entry at its root.
type minHeap []topEntry

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return rankCmp(h[i], h[j]) > 0 }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(topEntry)) }
func (h *minHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// topBidders appends to buf the n live peers other than self with the highest bids of at
// least floor, highest first (ties by address, so answers are stable).
func (t *Tracker) topBidders(buf []tracker.Peer, s *swarm, self netip.AddrPort, now int64, n int, floor uint64) []tracker.Peer {
	out := buf[:0]
	if s.bidders == 0 {
		return out
	}
	cutoff := now - int64(t.cfg.ExpireAfter)
	for attempt := 0; ; attempt++ {
		out = out[:0]
		exhausted := true // the list ran out before n answers or the floor
		for _, e := range s.top.list {
			if len(out) == n || e.bid < floor {
				exhausted = false
				break
			}
			p := &s.list[s.index[e.addr]]
			if e.addr == self || p.seen < cutoff {
				continue
			}
			out = append(out, tracker.Peer{Addr: p.addr, ID: p.id, Bid: p.bid})
		}
		if !exhausted || s.top.complete || attempt == 1 {
			return out
		}
		t.rebuildTop(s, cutoff)
	}
}
