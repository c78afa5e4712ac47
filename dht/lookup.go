package dht

import (
	"net/netip"
	"slices"
	"time"

	"github.com/speedbt/btt/dht/krpc"
)

type op int

const (
	opFindNode op = iota
	opGetPeers
	opAnnounce
)

type candState uint8

const (
	candNew candState = iota
	candQueried
	candResponded
	candFailed
)

type candidate struct {
	NodeInfo
	state candState
	token []byte
	depth int // hops from us: nodes of our own table are depth 0
}

// LookupResult describes a finished lookup.
type LookupResult struct {
	Target  ID
	Peers   []netip.AddrPort // get_peers: every distinct peer found
	Closest []NodeInfo       // the K closest nodes that answered, nearest first

	Queries   int           // queries sent
	Responses int           // replies received
	Hops      int           // hops to the node that first returned peers (else to the closest node)
	Duration  time.Duration // on the node's clock

	// For the first peer found: how many queries it took and when.
	FirstPeerQueries int
	FirstPeerAfter   time.Duration

	Announced int // announce: nodes that accepted our announce_peer
	Err       error
}

// lookup is an iterative Kademlia lookup (BEP 5): query the Alpha closest unqueried
// candidates, merge the nodes they return, and stop when the K closest candidates have
// all answered. It runs under n.mu, driven by replies and timeouts.
type lookup struct {
	n        *Node
	target   ID
	op       op
	port     int
	cands    []*candidate // nearest first, at most maxCands
	seen     map[netip.AddrPort]bool
	peers    map[netip.AddrPort]bool
	inflight int
	phase    int // 0 searching, 1 announcing, 2 done
	start    time.Time
	res      LookupResult
	onPeers  func([]netip.AddrPort)
	done     func(LookupResult)
	internal func(LookupResult) // called with n.mu held (bootstrap)
}

// startLookup begins a lookup. seeds are added to the nodes of the routing table as
// starting points. onPeers and done are user callbacks, run without the lock.
func (n *Node) startLookup(target ID, o op, port int, seeds []NodeInfo, onPeers func([]netip.AddrPort), done func(LookupResult)) *lookup {
	l := n.newLookup(target, o, port, onPeers, done)
	l.begin(seeds)
	return l
}

func (n *Node) newLookup(target ID, o op, port int, onPeers func([]netip.AddrPort), done func(LookupResult)) *lookup {
	l := &lookup{n: n, target: target, op: o, port: port, seen: map[netip.AddrPort]bool{}, peers: map[netip.AddrPort]bool{},
		start: n.cfg.Clock.Now(), onPeers: onPeers, done: done}
	l.res.Target = target
	return l
}

// begin seeds the lookup and sends its first queries. It may finish at once.
func (l *lookup) begin(seeds []NodeInfo) {
	n, target := l.n, l.target
	n.lookups[l] = struct{}{}
	l.add(n.tbl.closest(target, n.cfg.K*2), 0)
	l.add(seeds, 0)
	if n.closed {
		l.finish(ErrClosed)
		return
	}
	if l.op == opGetPeers {
		// We may be one of the nodes closest to the info-hash ourselves.
		if local := n.store.get(target, n.cfg.Clock.Now(), n.cfg.MaxValues, n.rng); len(local) > 0 {
			l.addPeers(local, 0)
		}
	}
	l.step()
}

func (l *lookup) maxCands() int { return l.n.cfg.K * 8 }

func (l *lookup) add(nodes []NodeInfo, depth int) {
	added := false
	for _, ni := range nodes {
		if l.seen[ni.Addr] || ni.ID == l.n.id || !l.n.admissible(ni) {
			continue
		}
		l.seen[ni.Addr] = true
		l.cands = append(l.cands, &candidate{NodeInfo: ni, depth: depth})
		added = true
	}
	if !added {
		return
	}
	slices.SortStableFunc(l.cands, func(a, b *candidate) int {
		if l.target.Closer(a.ID, b.ID) {
			return -1
		}
		if l.target.Closer(b.ID, a.ID) {
			return 1
		}
		return 0
	})
	// Forget the farthest candidates, but never one still in flight.
	for len(l.cands) > l.maxCands() {
		last := l.cands[len(l.cands)-1]
		if last.state == candQueried {
			break
		}
		l.cands = l.cands[:len(l.cands)-1]
	}
}

func (l *lookup) step() {
	if l.phase != 0 {
		return
	}
	k, alpha := l.n.cfg.K, l.n.cfg.Alpha
	window := 0
	for _, c := range l.cands {
		if window >= k {
			break
		}
		switch c.state {
		case candFailed:
			continue
		case candNew:
			if l.inflight < alpha && l.res.Queries < l.n.cfg.MaxLookupQueries {
				l.send(c)
			}
		}
		window++
	}
	if l.inflight == 0 {
		l.searchDone()
	}
}

func (l *lookup) send(c *candidate) {
	a := &krpc.Args{}
	method := krpc.MethodFindNode
	if l.op == opFindNode {
		a.Target = l.target
	} else {
		method = krpc.MethodGetPeers
		a.InfoHash = l.target
	}
	ok := l.n.query(c.Addr, c.ID, method, a, func(m *krpc.Msg, err error) { l.reply(c, m, err) })
	if !ok {
		c.state = candFailed
		return
	}
	c.state = candQueried
	l.inflight++
	l.res.Queries++
}

func (l *lookup) reply(c *candidate, m *krpc.Msg, err error) {
	l.inflight--
	if l.phase != 0 {
		return
	}
	if err != nil {
		c.state = candFailed
		l.step()
		return
	}
	c.state = candResponded
	l.res.Responses++
	r := m.R
	c.token = r.Token
	if len(r.Values) > 0 && l.op != opFindNode {
		l.addPeers(r.Values, c.depth+1)
	}
	// A reply may carry hundreds of nodes; only the closest few are worth a look.
	nodes := append(r.Nodes, r.Nodes6...)
	if len(nodes) > 2*l.n.cfg.K {
		nodes = nodes[:2*l.n.cfg.K]
	}
	l.add(nodes, c.depth+1)
	l.step()
}

// addPeers records peers found at hop depth and streams the new ones to OnPeers.
func (l *lookup) addPeers(values []netip.AddrPort, hops int) {
	var fresh []netip.AddrPort
	for _, p := range values {
		if !p.IsValid() || p.Port() == 0 || l.peers[p] || len(l.peers) >= 4096 {
			continue
		}
		l.peers[p] = true
		fresh = append(fresh, p)
	}
	if len(fresh) == 0 {
		return
	}
	if len(l.res.Peers) == 0 {
		l.res.Hops = hops
		l.res.FirstPeerQueries = l.res.Queries
		l.res.FirstPeerAfter = l.n.cfg.Clock.Now().Sub(l.start)
	}
	l.res.Peers = append(l.res.Peers, fresh...)
	if l.onPeers != nil {
		f := l.onPeers
		l.n.later = append(l.n.later, func() { f(fresh) })
	}
}

// searchDone ends the search phase: an announce goes on to announce_peer, anything else
// finishes.
func (l *lookup) searchDone() {
	if l.op != opAnnounce {
		l.finish(nil)
		return
	}
	l.phase = 1
	sent := 0
	for _, c := range l.closest() {
		if c.token == nil {
			continue
		}
		a := &krpc.Args{InfoHash: l.target, Token: c.token, Port: l.port, ImpliedPort: l.port == 0}
		if l.port == 0 {
			// BEP 5 keeps "port" mandatory even with implied_port, and libtorrent
			// rejects an announce without it; the value is ignored.
			a.Extra = map[string][]byte{"port": []byte("i0e")}
		}
		ok := l.n.query(c.Addr, c.ID, krpc.MethodAnnouncePeer, a, func(m *krpc.Msg, err error) {
			l.inflight--
			if err == nil {
				l.res.Announced++
			}
			if l.inflight == 0 {
				l.finish(nil)
			}
		})
		if ok {
			sent++
			l.inflight++
			l.res.Queries++
		}
	}
	if sent == 0 {
		l.finish(nil)
	}
}

// closest returns the K closest candidates that answered.
func (l *lookup) closest() []*candidate {
	var out []*candidate
	for _, c := range l.cands {
		if c.state == candResponded {
			out = append(out, c)
			if len(out) == l.n.cfg.K {
				break
			}
		}
	}
	return out
}

func (l *lookup) finish(err error) {
	if l.phase == 2 {
		return
	}
	l.phase = 2
	delete(l.n.lookups, l)
	for _, c := range l.closest() {
		l.res.Closest = append(l.res.Closest, c.NodeInfo)
	}
	if len(l.res.Peers) == 0 && len(l.res.Closest) > 0 {
		l.res.Hops = 0
		for _, c := range l.cands {
			if c.state == candResponded {
				l.res.Hops = c.depth + 1
				break
			}
		}
	}
	if err == nil && l.res.Responses == 0 && len(l.res.Peers) == 0 {
		err = ErrNoNodes
	}
	l.res.Err = err
	l.res.Duration = l.n.cfg.Clock.Now().Sub(l.start)
	res := l.res
	if l.internal != nil {
		l.internal(res)
	}
	if l.done != nil {
		f := l.done
		l.n.later = append(l.n.later, func() { f(res) })
	}
}
