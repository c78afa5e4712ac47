package choke

import (
	"cmp"
	"math"
	"time"
)

// Rank runs one rechoke over the torrent's peers at time now and returns who is
// unchoked, why, and at what price. st carries the optimistic rotation between calls and
// is updated: the optimistic slots are re-picked when now reaches the rotation time (then
// moved Config.OptimisticInterval on), or when a holder left, lost interest, was barred or
// was promoted to a regular slot. A nil st behaves as a fresh State (every call then
// rotates). Rank does not keep or modify peers. Keys should be unique; if one repeats,
// only its best-ranked entry gets a slot (one slot per requester) and its other entries
// are ignored.
func Rank(peers []Peer, cfg Config, st *State, now time.Time) Result {
	if st == nil {
		st = new(State)
	}
	reg := max(cfg.RegularSlots, 0)
	opt := max(cfg.OptimisticSlots, 0)

	// The result never holds more slots than there are peers, whatever the config says.
	n := min(cfg.Slots(), len(peers))
	r := rank{peers: peers, cfg: cfg, out: make([]Slot, 0, n), from: make([]int, 0, n)}
	idx := st.scratch[:0]

	var res Result
	// Stage 0: as a leecher, tit-for-tat keeps its reciprocation slots. Only peers that
	// upload to us qualify, so a torrent nobody uploads to auctions every regular slot.
	if recip := min(max(cfg.ReciprocationSlots, 0), reg); cfg.Auction && !cfg.Seed && recip > 0 {
		for i := range peers {
			p := &peers[i]
			if p.wants() && !p.Snubbed && p.DownloadRate > 0 {
				idx = append(idx, i)
			}
		}
		o := newOrdered(idx, recip, r.byRate)
		for j := range o.len() {
			if recip == 0 {
				break
			}
			if i := o.at(j); !r.taken(peers[i].Key) {
				r.add(i, Rate)
				recip--
			}
		}
		idx = idx[:0]
	}
	auctioned := reg - len(r.out)
	won0 := len(r.out)

	// Stage 1: the auction fills regular slots with eligible bidders, highest first.
	if cfg.Auction && auctioned > 0 {
		for i := range peers {
			if r.eligible(&peers[i]) {
				idx = append(idx, i)
			}
		}
		o := newOrdered(idx, auctioned+1+won0, r.byBid)
		won := 0
		var losing uint64
		lost := false
		for j := range o.len() {
			p := &peers[o.at(j)]
			if r.taken(p.Key) {
				continue // a repeated key is the same requester: one slot, one bid
			}
			if won == auctioned {
				losing, lost = p.Bid, true
				break
			}
			r.add(o.at(j), Auction)
			won++
		}
		price := cfg.Reserve
		if lost && losing > price {
			price = losing
		}
		if won > 0 {
			res.ClearingPrice = price
			for j := won0; j < len(r.out); j++ {
				r.out[j].Price = price
			}
		}
	}

	// Stage 2: the classic rate rule fills the regular slots left.
	if left := reg - len(r.out); left > 0 {
		idx = idx[:0]
		for i := range peers {
			p := &peers[i]
			if p.wants() && (cfg.Seed || !p.Snubbed) {
				idx = append(idx, i)
			}
		}
		o := newOrdered(idx, left+len(r.out), r.byRate)
		for j := range o.len() {
			if left == 0 {
				break
			}
			i := o.at(j)
			if r.taken(peers[i].Key) {
				continue
			}
			r.add(i, Rate)
			left--
		}
	}

	// Stage 3: optimistic slots, kept between rotations, re-picked when the rotation is
	// due or when a holder left, lost interest, was barred or was promoted to a regular slot.
	rotate := st.rotateAt.IsZero() || !now.Before(st.rotateAt)
	if rotate {
		st.rotateAt = now.Add(max(cfg.OptimisticInterval, 0))
	}
	res.Rotated = rotate
	kept := st.optimistic[:0]
	if !rotate {
		for _, k := range st.optimistic {
			if len(kept) == opt {
				break
			}
			if r.taken(k) {
				continue
			}
			for i := range peers {
				if peers[i].Key == k && peers[i].wants() {
					r.add(i, Optimistic)
					kept = append(kept, k)
					break
				}
			}
		}
	}
	if need := opt - len(kept); need > 0 {
		idx = idx[:0]
		for i := range peers {
			if peers[i].wants() {
				idx = append(idx, i)
			}
		}
		o := newOrdered(idx, need+len(r.out), r.byWait)
		for j := range o.len() {
			if need == 0 {
				break
			}
			i := o.at(j)
			k := peers[i].Key
			if r.taken(k) {
				continue
			}
			r.add(i, Optimistic)
			kept = append(kept, k)
			need--
		}
	}
	st.optimistic = kept
	st.scratch = idx[:0]

	// Mark peers that stay unchoked under different terms.
	for j := range r.out {
		s := &r.out[j]
		p := &peers[r.from[j]]
		if p.Choked {
			continue
		}
		paying := s.Kind == Auction
		s.Changed = p.Paying != paying || (paying && p.Price != s.Price)
	}
	res.Unchoked = r.out
	return res
}

// rank is the working set of one Rank call.
type rank struct {
	peers []Peer
	cfg   Config
	out   []Slot
	from  []int               // index in peers of each slot of out
	keys  map[uint64]struct{} // the keys of out, built only when there are many slots
}

// wants reports whether p may hold a slot at all: interested and not barred.
func (p *Peer) wants() bool { return p.Interested && !p.Barred }

func (r *rank) eligible(p *Peer) bool {
	return p.wants() && p.Speed && p.Bid != 0 && p.Bid >= r.cfg.Reserve
}

// manySlots is where a linear scan of the chosen keys stops being cheaper than a map.
const manySlots = 32

func (r *rank) taken(k uint64) bool {
	if r.keys != nil {
		_, ok := r.keys[k]
		return ok
	}
	for _, s := range r.out {
		if s.Key == k {
			return true
		}
	}
	return false
}

func (r *rank) add(i int, kind Kind) {
	k := r.peers[i].Key
	r.out = append(r.out, Slot{Key: k, Kind: kind})
	r.from = append(r.from, i)
	if r.keys == nil && len(r.out) > manySlots {
		r.keys = make(map[uint64]struct{}, 2*len(r.out))
		for _, s := range r.out {
			r.keys[s.Key] = struct{}{}
		}
	} else if r.keys != nil {
		r.keys[k] = struct{}{}
	}
}

// rate is the classic tit-for-tat measure: what the peer gives us as a leecher, what we
// give it as a seed.
func (r *rank) rate(p *Peer) int64 {
	if r.cfg.Seed {
		return p.UploadRate
	}
	return p.DownloadRate
}

// byBid orders eligible bidders: higher bid, then the classic rate rule, then key, so
// that equal bids never depend on slice order.
func (r *rank) byBid(a, b int) int {
	pa, pb := &r.peers[a], &r.peers[b]
	if c := cmp.Compare(pb.Bid, pa.Bid); c != 0 {
		return c
	}
	return r.byRate(a, b)
}

// byRate orders by rate (higher first), then by longest wait (which makes a seed rotate
// among peers it serves equally), then by key.
func (r *rank) byRate(a, b int) int {
	pa, pb := &r.peers[a], &r.peers[b]
	if c := cmp.Compare(r.rate(pb), r.rate(pa)); c != 0 {
		return c
	}
	if c := cmp.Compare(pb.Waiting, pa.Waiting); c != 0 {
		return c
	}
	return cmp.Compare(pa.Key, pb.Key)
}

// byWait orders optimistic candidates: choked peers first (a peer we already serve is no
// one's turn), then by weighted wait, then by bid when the auction is on, then by key.
func (r *rank) byWait(a, b int) int {
	pa, pb := &r.peers[a], &r.peers[b]
	if pa.Choked != pb.Choked {
		if pa.Choked {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(r.weightedWait(pb), r.weightedWait(pa)); c != 0 {
		return c
	}
	if r.cfg.Auction {
		if c := cmp.Compare(r.bid(pb), r.bid(pa)); c != 0 {
			return c
		}
	}
	return cmp.Compare(pa.Key, pb.Key)
}

func (r *rank) bid(p *Peer) uint64 {
	if !p.Speed {
		return 0
	}
	return p.Bid
}

// weightedWait counts a new connection's wait three times, mainline's way of giving
// newcomers their first pieces (and so something to trade) quickly.
func (r *rank) weightedWait(p *Peer) time.Duration {
	w := max(p.Waiting, 0)
	if p.Connected < r.cfg.NewPeerAge {
		if w > math.MaxInt64/3 {
			return math.MaxInt64
		}
		w *= 3
	}
	return w
}
