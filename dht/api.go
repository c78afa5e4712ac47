package dht

import (
	"context"
	"net/netip"

	"github.com/speedbt/btt/dht/krpc"
)

// LookupOptions choose what a lookup does.
type LookupOptions struct {
	// GetPeers asks for peers (get_peers) instead of nodes (find_node).
	GetPeers bool
	// Announce announces us to the closest nodes when the search ends (implies GetPeers).
	// Port is the port announced; 0 sends implied_port, so they take our UDP port (the
	// DHT and uTP share the session's port).
	Announce bool
	Port     int
	// OnPeers, when set, receives each batch of new peers as it arrives.
	OnPeers func([]netip.AddrPort)
}

// LookupAsync starts a lookup for target and calls done (on some goroutine, without
// locks held) when it ends. The returned function cancels it.
func (n *Node) LookupAsync(target ID, opt LookupOptions, done func(LookupResult)) (cancel func()) {
	o := opFindNode
	switch {
	case opt.Announce:
		o = opAnnounce
	case opt.GetPeers:
		o = opGetPeers
	}
	n.mu.Lock()
	l := n.startLookup(target, o, opt.Port, nil, opt.OnPeers, done)
	n.unlock()
	return func() {
		n.mu.Lock()
		l.finish(context.Canceled)
		n.unlock()
	}
}

// Lookup runs a lookup and waits for it.
func (n *Node) Lookup(ctx context.Context, target ID, opt LookupOptions) (LookupResult, error) {
	ch := make(chan LookupResult, 1)
	cancel := n.LookupAsync(target, opt, func(r LookupResult) { ch <- r })
	select {
	case r := <-ch:
		return r, r.Err
	case <-ctx.Done():
		cancel()
		r := <-ch
		return r, ctx.Err()
	}
}

// FindNode returns the K nodes closest to target that answered.
func (n *Node) FindNode(ctx context.Context, target ID) ([]NodeInfo, error) {
	r, err := n.Lookup(ctx, target, LookupOptions{})
	return r.Closest, err
}

// GetPeers looks up the peers of an info-hash. It returns the peers found, even when
// ctx ends the lookup early.
func (n *Node) GetPeers(ctx context.Context, infoHash ID) ([]netip.AddrPort, error) {
	r, err := n.Lookup(ctx, infoHash, LookupOptions{GetPeers: true})
	if len(r.Peers) > 0 && err == ctx.Err() {
		err = nil
	}
	return r.Peers, err
}

// Announce tells the nodes closest to infoHash that we have it, on port (0: the port
// our DHT packets come from). It returns how many nodes accepted, and ErrNoNodes when
// none did.
func (n *Node) Announce(ctx context.Context, infoHash ID, port int) (int, error) {
	if port < 0 || port > 65535 {
		return 0, ErrInvalidAddr
	}
	r, err := n.Lookup(ctx, infoHash, LookupOptions{Announce: true, Port: port})
	if err == nil && r.Announced == 0 {
		err = ErrNoNodes
	}
	return r.Announced, err
}

// BootstrapAsync joins the DHT through addrs (and the nodes of Config.State): it asks
// each of them for nodes near our ID, then looks our own ID up, which fills the routing
// table. done gets nil once some node answered.
func (n *Node) BootstrapAsync(addrs []netip.AddrPort, done func(error)) {
	n.mu.Lock()
	defer n.unlock()
	type target struct {
		addr netip.AddrPort
		id   ID
	}
	var targets []target
	seen := map[netip.AddrPort]bool{}
	for _, a := range addrs {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if a.IsValid() && a.Port() != 0 && !seen[a] {
			seen[a] = true
			targets = append(targets, target{addr: a})
		}
	}
	if st := n.cfg.State; st != nil {
		for _, ni := range st.Nodes {
			if !seen[ni.Addr] && n.admissible(ni) {
				seen[ni.Addr] = true
				targets = append(targets, target{ni.Addr, ni.ID})
			}
		}
	}
	var seeds []NodeInfo
	outstanding := 0
	finish := func() {
		l := n.newLookup(n.id, opFindNode, 0, nil, nil)
		l.internal = func(r LookupResult) {
			err := r.Err
			if n.tbl.Len() > 0 {
				err = nil
			}
			if done != nil {
				n.later = append(n.later, func() { done(err) })
			}
		}
		l.begin(seeds)
	}
	for _, t := range targets {
		ok := n.query(t.addr, t.id, krpc.MethodFindNode, &krpc.Args{Target: n.id}, func(m *krpc.Msg, err error) {
			if err == nil {
				seeds = append(seeds, m.R.Nodes...)
				seeds = append(seeds, m.R.Nodes6...)
			}
			outstanding--
			if outstanding == 0 {
				finish()
			}
		})
		if ok {
			outstanding++
		}
	}
	if outstanding == 0 {
		finish()
	}
}

// Bootstrap is BootstrapAsync that waits.
func (n *Node) Bootstrap(ctx context.Context, addrs []netip.AddrPort) error {
	ch := make(chan error, 1)
	n.BootstrapAsync(addrs, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AddLocalPeer stores p as a peer of infoHash in this node's own peer store, as if p had
// announced to us. A node that serves a torrent records itself this way, so get_peers sent
// to it names it: a peer that bootstraps from it finds it at once, without waiting for it to
// announce to anyone (which needs a routing table it may not have yet). The entry expires
// like any announce unless added again. It reports whether p was stored (the store is full
// otherwise).
func (n *Node) AddLocalPeer(infoHash ID, p netip.AddrPort) bool {
	if !p.IsValid() || p.Port() == 0 || p.Addr().IsUnspecified() {
		return false
	}
	n.mu.Lock()
	defer n.unlock()
	return n.store.add(infoHash, p, n.cfg.Clock.Now())
}
