package choke

import "slices"

// Fill gives the free slots to choked peers, for the events between rechokes: a peer
// becomes interested, a slot frees, a first bid arrives. Unlike Rank it re-ranks no one:
// it never chokes, never re-prices an unchoked peer and never rotates the optimistic slots
// (libtorrent's preemptive unchoke, rain's fast unchoke); the next Rank does those.
//
// A slot is free when fewer peers are unchoked than cfg has slots of its kind. The
// unchoked peers st remembers as optimistic count against the optimistic slots, every
// other unchoked peer against the regular ones. Free regular slots go, under Rank's rules,
// to the choked eligible bidders (highest bid first), who pay the highest bid left among
// the choked eligible bidders or the reserve if that is higher, then to the choked peers
// by the rate rule; free optimistic slots go to the choked peers that waited longest, and
// st remembers them. Fill returns the slots it filled, best first; the loop unchokes them.
// Like Rank, it does not keep or modify peers.
func Fill(peers []Peer, cfg Config, st *State) []Slot {
	if st == nil {
		st = new(State)
	}
	reg, opt := max(cfg.RegularSlots, 0), max(cfg.OptimisticSlots, 0)
	busy := map[uint64]bool{} // keys holding a slot now, or given one by this call
	for i := range peers {
		if !peers[i].Choked {
			busy[peers[i].Key] = true
		}
	}
	// Optimistic holders that left or were choked since hold nothing.
	kept := st.optimistic[:0]
	for _, k := range st.optimistic {
		if busy[k] && len(kept) < opt && !slices.Contains(kept, k) {
			kept = append(kept, k)
		}
	}
	freeReg := reg - (len(busy) - len(kept))
	freeOpt := opt - len(kept)

	r := rank{peers: peers, cfg: cfg}
	var idx []int
	candidates := func(ok func(p *Peer) bool, cmp func(a, b int) int) []int {
		idx = idx[:0]
		for i := range peers {
			if p := &peers[i]; p.Choked && p.wants() && !busy[p.Key] && ok(p) {
				idx = append(idx, i)
			}
		}
		slices.SortFunc(idx, cmp)
		return idx
	}
	// take gives up to n slots of kind to the candidates in order and returns how many.
	take := func(cand []int, n int, kind Kind) (won int, next int) {
		j := 0
		for ; j < len(cand) && won < n; j++ {
			p := &peers[cand[j]]
			if busy[p.Key] {
				continue // a repeated key is the same peer: one slot
			}
			busy[p.Key] = true
			r.add(cand[j], kind)
			won++
		}
		return won, j
	}

	if freeReg > 0 && cfg.Auction {
		cand := candidates(r.eligible, r.byBid)
		won0 := len(r.out)
		won, j := take(cand, freeReg, Auction)
		price := cfg.Reserve
		for ; j < len(cand); j++ {
			if p := &peers[cand[j]]; !busy[p.Key] {
				price = max(price, p.Bid) // the best loser sets the price
				break
			}
		}
		for k := won0; k < len(r.out); k++ {
			r.out[k].Price = price
		}
		freeReg -= won
	}
	if freeReg > 0 {
		cand := candidates(func(p *Peer) bool { return cfg.Seed || !p.Snubbed }, r.byRate)
		take(cand, freeReg, Rate)
	}
	if freeOpt > 0 {
		cand := candidates(func(*Peer) bool { return true }, r.byWait)
		n := len(r.out)
		take(cand, freeOpt, Optimistic)
		for _, s := range r.out[n:] {
			kept = append(kept, s.Key)
		}
	}
	st.optimistic = kept
	return r.out
}
