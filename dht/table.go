package dht

import (
	"bytes"
	"net/netip"
	"slices"
	"time"
)

// Liveness thresholds of BEP 5.
const (
	goodFor  = 15 * time.Minute // a node that answered within this is good
	maxFails = 2                // consecutive unanswered queries that make a node bad
)

// entry is one node in the routing table.
type entry struct {
	NodeInfo
	lastSeen time.Time // last packet from it
	lastResp time.Time // last response to one of our queries
	fails    int       // consecutive unanswered queries
}

func (e *entry) bad() bool { return e.fails >= maxFails }

func (e *entry) good(now time.Time) bool {
	return e.fails == 0 && !e.lastResp.IsZero() && now.Sub(e.lastSeen) < goodFor
}

// bucket is a k-bucket with a replacement cache of nodes seen while it was full.
type bucket struct {
	nodes   []*entry
	repl    []*entry
	changed time.Time // last time a node was added or answered
}

// table is a Kademlia routing table. Bucket i < len-1 holds the nodes whose IDs share
// exactly i leading bits with self; the last bucket holds all closer ones and is the only
// one that splits, as in BEP 5. It is not safe for concurrent use (the Node's mutex
// guards it).
type table struct {
	self    ID
	k       int
	buckets []*bucket
	byAddr  map[netip.AddrPort]*entry
	count   int

	// onePerIP keeps at most one node per public IP, so one host cannot fill buckets
	// with many ports or IDs (libtorrent's restrict_routing_ips). Local addresses are
	// exempt: tests and LANs put many nodes on one.
	onePerIP bool
	ips      map[netip.Addr]int
}

func newTable(self ID, k int, now time.Time) *table {
	return &table{self: self, k: k, buckets: []*bucket{{changed: now}}, byAddr: map[netip.AddrPort]*entry{},
		ips: map[netip.Addr]int{}}
}

// ipTaken reports whether a new node at a would break the one-node-per-IP rule.
func (t *table) ipTaken(a netip.AddrPort) bool {
	return t.onePerIP && t.ips[a.Addr()] > 0 && !IsLocalAddr(a.Addr())
}

func (t *table) index(id ID) int {
	cpl := t.self.CommonPrefixLen(id)
	if cpl >= len(t.buckets)-1 {
		return len(t.buckets) - 1
	}
	return cpl
}

// Len returns the number of nodes in the table (not counting replacement caches).
func (t *table) Len() int { return t.count }

// lookup returns the entry at addr, if any.
func (t *table) lookup(a netip.AddrPort) *entry { return t.byAddr[a] }

// accepts reports whether a new verified node with this id would get into the table
// (its bucket has room, can split, or holds a bad node): the test for whether an unknown
// querier is worth a verification ping.
func (t *table) accepts(id ID, a netip.AddrPort) bool {
	if id == t.self || t.ipTaken(a) {
		return false
	}
	i := t.index(id)
	b := t.buckets[i]
	if len(b.nodes) < t.k || (i == len(t.buckets)-1 && len(t.buckets) < 160) {
		return true
	}
	return slices.ContainsFunc(b.nodes, (*entry).bad)
}

// update records that n was heard from. responded says it answered one of our queries,
// which is the only way a node not yet in the table gets in: a bare query could come
// from a spoofed address. It returns a node to ping when n waits in a full bucket's
// replacement cache behind a questionable node.
func (t *table) update(n NodeInfo, now time.Time, responded bool) (ping *entry) {
	if n.ID == t.self || !n.Addr.IsValid() || n.Addr.Port() == 0 {
		return nil
	}
	if e := t.byAddr[n.Addr]; e != nil {
		if e.ID != n.ID {
			// The address now claims another ID. Believe it only when it answered a
			// query of ours with the new ID and the old entry is not known good.
			if !responded || e.good(now) {
				return nil
			}
			t.remove(e)
		} else {
			e.lastSeen = now
			if responded {
				e.lastResp = now
				e.fails = 0
				t.buckets[t.index(e.ID)].changed = now
			}
			return nil
		}
	}
	if !responded || t.ipTaken(n.Addr) {
		return nil
	}
	for {
		i := t.index(n.ID)
		b := t.buckets[i]
		if j := slices.IndexFunc(b.nodes, func(e *entry) bool { return e.ID == n.ID }); j >= 0 {
			// Same ID at a new address: a node that moved, or someone hijacking an ID.
			// Keep a good entry; replace a doubtful one.
			old := b.nodes[j]
			if old.good(now) {
				return nil
			}
			t.remove(old)
			continue
		}
		e := &entry{NodeInfo: n, lastSeen: now, lastResp: now}
		if len(b.nodes) < t.k {
			t.insert(b, e, now)
			return nil
		}
		if i == len(t.buckets)-1 && len(t.buckets) < 160 {
			t.split()
			continue
		}
		if j := slices.IndexFunc(b.nodes, (*entry).bad); j >= 0 {
			t.remove(b.nodes[j])
			t.insert(b, e, now)
			return nil
		}
		// Full of live or questionable nodes: keep the newcomer as a replacement and ask
		// the stalest questionable node whether it is still there.
		if j := slices.IndexFunc(b.repl, func(r *entry) bool { return r.Addr == n.Addr || r.ID == n.ID }); j >= 0 {
			b.repl = slices.Delete(b.repl, j, j+1)
		}
		if len(b.repl) >= t.k {
			b.repl = slices.Delete(b.repl, 0, 1)
		}
		b.repl = append(b.repl, e)
		var stalest *entry
		for _, x := range b.nodes {
			if !x.good(now) && (stalest == nil || x.lastSeen.Before(stalest.lastSeen)) {
				stalest = x
			}
		}
		return stalest
	}
}

func (t *table) insert(b *bucket, e *entry, now time.Time) {
	b.nodes = append(b.nodes, e)
	b.changed = now
	t.byAddr[e.Addr] = e
	t.ips[e.Addr.Addr()]++
	t.count++
}

// split divides the last bucket in two.
func (t *table) split() {
	last := t.buckets[len(t.buckets)-1]
	depth := len(t.buckets) - 1
	nb := &bucket{changed: last.changed}
	keep := last.nodes[:0:0]
	for _, e := range last.nodes {
		if t.self.CommonPrefixLen(e.ID) > depth {
			nb.nodes = append(nb.nodes, e)
		} else {
			keep = append(keep, e)
		}
	}
	var keepRepl []*entry
	for _, e := range last.repl {
		if t.self.CommonPrefixLen(e.ID) > depth {
			nb.repl = append(nb.repl, e)
		} else {
			keepRepl = append(keepRepl, e)
		}
	}
	last.nodes, last.repl = keep, keepRepl
	t.buckets = append(t.buckets, nb)
}

// remove deletes e and promotes the freshest replacement into its place.
func (t *table) remove(e *entry) {
	b := t.buckets[t.index(e.ID)]
	j := slices.Index(b.nodes, e)
	if j < 0 {
		return
	}
	b.nodes = slices.Delete(b.nodes, j, j+1)
	delete(t.byAddr, e.Addr)
	if t.ips[e.Addr.Addr()]--; t.ips[e.Addr.Addr()] <= 0 {
		delete(t.ips, e.Addr.Addr())
	}
	t.count--
	for len(b.repl) > 0 {
		r := b.repl[len(b.repl)-1]
		b.repl = b.repl[:len(b.repl)-1]
		if t.byAddr[r.Addr] == nil && !t.ipTaken(r.Addr) {
			b.nodes = append(b.nodes, r)
			t.byAddr[r.Addr] = r
			t.ips[r.Addr.Addr()]++
			t.count++
			break
		}
	}
}

// failed records that the node at a did not answer. A node that becomes bad is
// replaced when a replacement is waiting; otherwise it stays, marked bad, and is no
// longer handed out, so a node whose network went down briefly keeps its table.
func (t *table) failed(a netip.AddrPort) {
	e := t.byAddr[a]
	if e == nil {
		return
	}
	e.fails++
	if e.bad() && len(t.buckets[t.index(e.ID)].repl) > 0 {
		t.remove(e)
	}
}

// drop removes the node at a outright (it lied or flooded us).
func (t *table) drop(a netip.AddrPort) {
	if e := t.byAddr[a]; e != nil {
		t.remove(e)
	}
}

// dropIP removes every node at ip.
func (t *table) dropIP(ip netip.Addr) {
	for a, e := range t.byAddr {
		if a.Addr() == ip {
			t.remove(e)
		}
	}
}

// closest returns up to n live nodes closest to target, nearest first.
func (t *table) closest(target ID, n int) []NodeInfo {
	if n <= 0 {
		return nil
	}
	// Keep the best n seen so far in a small sorted array: one XOR and one compare per
	// node, no sort and no allocation per candidate.
	type scored struct {
		d ID
		e *entry
	}
	best := make([]scored, 0, n)
	consider := func(b *bucket) {
		for _, e := range b.nodes {
			if e.bad() {
				continue
			}
			d := target.Xor(e.ID)
			if len(best) == n && bytes.Compare(d[:], best[n-1].d[:]) >= 0 {
				continue
			}
			j := len(best)
			if j < n {
				best = append(best, scored{})
			} else {
				j = n - 1
			}
			for j > 0 && bytes.Compare(d[:], best[j-1].d[:]) < 0 {
				best[j] = best[j-1]
				j--
			}
			best[j] = scored{d, e}
		}
	}
	// If target falls in bucket i, the nodes of bucket i share its first i+1 bits; those
	// of every deeper bucket differ from it at bit i only; those of a shallower bucket j
	// differ at bit j < i. So: bucket i, then (if short of n) all deeper ones, then
	// shallower ones from i-1 down, until n are found.
	i := t.index(target)
	consider(t.buckets[i])
	if len(best) < n {
		for j := i + 1; j < len(t.buckets); j++ {
			consider(t.buckets[j])
		}
	}
	for j := i - 1; j >= 0 && len(best) < n; j-- {
		consider(t.buckets[j])
	}
	out := make([]NodeInfo, len(best))
	for i, x := range best {
		out[i] = x.e.NodeInfo
	}
	return out
}

// all returns every node, for saving the table.
func (t *table) all() []NodeInfo {
	out := make([]NodeInfo, 0, t.count)
	for _, b := range t.buckets {
		for _, e := range b.nodes {
			if !e.bad() {
				out = append(out, e.NodeInfo)
			}
		}
	}
	return out
}

// stale returns the indexes of buckets unchanged since before cutoff.
func (t *table) stale(cutoff time.Time) []int {
	var out []int
	for i, b := range t.buckets {
		if b.changed.Before(cutoff) {
			out = append(out, i)
		}
	}
	return out
}

// questionable returns up to n nodes that are neither good nor bad, stalest first.
func (t *table) questionable(now time.Time, n int) []*entry {
	var out []*entry
	for _, b := range t.buckets {
		for _, e := range b.nodes {
			if !e.good(now) && !e.bad() {
				out = append(out, e)
			}
		}
	}
	slices.SortFunc(out, func(a, b *entry) int { return a.lastSeen.Compare(b.lastSeen) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// randomIDIn returns a random ID that falls in bucket i.
func (t *table) randomIDIn(i int, rnd [20]byte) ID {
	id := ID(rnd)
	// Copy the first i bits of self, then (unless i is the last bucket) flip bit i.
	for bit := 0; bit < i; bit++ {
		m := byte(0x80) >> (bit % 8)
		id[bit/8] = id[bit/8]&^m | t.self[bit/8]&m
	}
	if i < len(t.buckets)-1 {
		m := byte(0x80) >> (i % 8)
		id[i/8] = id[i/8]&^m | (t.self[i/8]^m)&m
	}
	return id
}
