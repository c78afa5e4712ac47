package peer

import (
	"net/netip"
	"time"

	"github.com/speedbt/btt/dht"
)

// DHT announce timing. A torrent looks up and announces when it is added, then every
// dhtInterval. Two things make that too slow on its own: a node that starts with an empty
// routing table (a seeder run with --dht and nobody to bootstrap from yet) announces to
// nobody and would wait a full interval (5 minutes for a seeder) before trying again; and a
// node that is found later (someone bootstraps from it) would stay unannounced meanwhile.
// So a failed lookup is retried with a short backoff, and the routing table's first nodes
// make every torrent look up at once.

// dhtRetryMin is the first retry delay after a failed lookup; it doubles per failure up to
// the torrent's normal interval. Two seconds is what a bootstrap round trip takes at worst
// on a slow link, so a node that just learnt its first neighbours is not hammered.
const dhtRetryMin = 2 * time.Second

// dhtTableWatch is how often the session checks whether its routing table went from empty
// to not: a mutex and a counter read, cheap enough every half second.
const dhtTableWatch = 500 * time.Millisecond

// dhtRetry is the delay before the next lookup after fails failures in a row.
func dhtRetry(fails int, interval time.Duration) time.Duration {
	d := dhtRetryMin << min(max(fails-1, 0), 16)
	return min(d, interval)
}

// watchDHTTable wakes every torrent's DHT lookup when the routing table gains its first
// nodes (at start, or after it emptied).
func (s *Session) watchDHTTable(node *dht.Node) {
	defer s.wg.Done()
	tick := time.NewTicker(dhtTableWatch)
	defer tick.Stop()
	had := node.Stats().TableNodes > 0
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		has := node.Stats().TableNodes > 0
		if has && !had {
			s.log.Info("dht routing table has its first nodes: announcing")
			s.wakeDHT()
		}
		had = has
	}
}

// wakeDHT makes every torrent look up and announce on its next tick.
func (s *Session) wakeDHT() {
	s.mu.Lock()
	ts := make([]*Torrent, 0, len(s.torrents))
	for _, t := range s.torrents {
		ts = append(ts, t)
	}
	s.mu.Unlock()
	for _, T := range ts {
		t := T.t
		t.do(func() {
			t.dhtNext = time.Time{}
			t.dhtFail = 0
		})
	}
}

// dhtSelf is the address peers reach us on, for our own DHT node's peer store: the listen
// address, or, when we listen on all interfaces, the external address the DHT told us (BEP
// 42). Invalid when neither is known, or we do not listen.
func (s *Session) dhtSelf() netip.AddrPort {
	a := s.Addr()
	if a == nil || s.dht == nil {
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	if ap.Addr().IsUnspecified() {
		ip, ok := s.dht.ExternalIP()
		if !ok {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(ip, ap.Port())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
