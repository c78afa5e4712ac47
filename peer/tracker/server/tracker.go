package server

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/speedbt/btt/wire/tracker"
)

// Config sets a Tracker's rules and bounds. Zero fields take the defaults
// shown.
type Config struct {
	Interval    time.Duration // announce interval sent to clients: 30 min
	MinInterval time.Duration // minimum interval: Interval / 2
	// A peer that has not announced for ExpireAfter is forgotten:
	// Interval * 3 / 2.
	ExpireAfter time.Duration

	MaxTorrents        int // 100,000
	MaxPeersPerTorrent int // 20,000
	MaxPeers           int // all torrents together: 1,000,000
	DefaultNumWant     int // peers returned when the client asks none: 50
	MaxNumWant         int // cap on numwant and top: 200
	// MaxPeersPerSource caps a swarm's peers from one source, an IPv4 address or an
	// IPv6 /64, so that one host cannot fill a swarm by varying ports or addresses: 16
	// (a few clients behind one NAT). Loopback is exempt.
	MaxPeersPerSource int

	// Per source (IPv4 address or IPv6 /64): RatePerSecond announces and scrapes per second on
	// average, bursts of RateBurst. 0 means 20 and 100; a negative
	// RatePerSecond turns the limit off (benchmarks, trusted networks).
	RatePerSecond float64
	RateBurst     int
	// RateSlots is the size of the hashed rate-limit table (bounded memory
	// whatever the number of sources; colliding addresses share a bucket).
	RateSlots int // 65,536
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Interval <= 0 {
		c.Interval = 30 * time.Minute
	}
	if c.MinInterval <= 0 {
		c.MinInterval = c.Interval / 2
	}
	if c.ExpireAfter <= 0 {
		c.ExpireAfter = c.Interval * 3 / 2
	}
	def(&c.MaxTorrents, 100_000)
	def(&c.MaxPeersPerTorrent, 20_000)
	def(&c.MaxPeers, 1_000_000)
	def(&c.DefaultNumWant, 50)
	def(&c.MaxNumWant, 200)
	def(&c.MaxPeersPerSource, 16)
	def(&c.RateBurst, 100)
	def(&c.RateSlots, 1<<16)
	if c.RatePerSecond == 0 {
		c.RatePerSecond = 20
	}
	return c
}

// Errors a Tracker refuses requests with; the network front ends send them as
// failure reasons.
var (
	ErrFull        = errors.New("tracker full")
	ErrRateLimited = errors.New("too many requests from this address")
	ErrPort        = errors.New("port 0 is not a peer")
)

// sourceKey is what limits count per source: an IPv4 address, or an IPv6 /64 (one
// subscriber's link gets a whole /64, so counting single IPv6 addresses limits nothing).
func sourceKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// admitSource counts one more peer of s from ip, or reports false when that source
// holds MaxPeersPerSource of the swarm already. Loopback is exempt (tests and demos run
// a whole swarm on it).
func (t *Tracker) admitSource(s *swarm, ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	k := sourceKey(ip)
	if s.perSource == nil {
		s.perSource = make(map[netip.Addr]int32)
	}
	if int(s.perSource[k]) >= t.cfg.MaxPeersPerSource {
		return false
	}
	s.perSource[k]++
	return true
}

func (t *Tracker) releaseSource(s *swarm, ip netip.Addr) {
	if ip.IsLoopback() {
		return
	}
	k := sourceKey(ip)
	if s.perSource[k]--; s.perSource[k] <= 0 {
		delete(s.perSource, k)
	}
}

// Tracker is an in-memory tracker. It is safe for concurrent use.
type Tracker struct {
	cfg     Config
	limiter *limiter

	mu         sync.Mutex
	torrents   map[[20]byte]*swarm
	peers      int // in all swarms
	lastSweep  time.Time
	bidsDirty  bool
	bidsSorted []tracker.BidScrapeEntry // cache for BidScrape, valid while !bidsDirty
}

// swarm keeps its peers in a dense slice, found by address through index:
// handing out peers walks the slice from a random start, which is several
// times faster than iterating a map, and removal swaps the last peer in.
type swarm struct {
	list       []peerEntry
	index      map[netip.AddrPort]int32
	seeders    int
	bidders    int
	downloaded int
	cursor     uint32 // where the next ordinary peer list starts
	top        topBids
	perSource  map[netip.Addr]int32 // peers by source (IPv4 address or IPv6 /64)
}

type peerEntry struct {
	addr netip.AddrPort
	id   [20]byte
	seed bool
	bid  uint64
	seen int64 // unix nanoseconds
	// inTop says the peer is in the swarm's top-bidder order.
	inTop bool
}

func (s *swarm) size() int { return len(s.list) }

// New returns an empty tracker.
func New(cfg Config) *Tracker {
	cfg = cfg.withDefaults()
	t := &Tracker{cfg: cfg, torrents: make(map[[20]byte]*swarm)}
	if cfg.RatePerSecond > 0 {
		t.limiter = newLimiter(cfg.RateSlots, cfg.RatePerSecond, cfg.RateBurst)
	}
	return t
}

// Config returns the tracker's configuration with defaults filled in.
func (t *Tracker) Config() Config { return t.cfg }

// Allow charges one request to ip's rate budget and reports whether it may
// be served.
func (t *Tracker) Allow(ip netip.Addr, now time.Time) bool {
	if t.limiter == nil {
		return true
	}
	return t.limiter.allow(sourceKey(ip), now)
}

// Announce records the announce of the peer reachable at from (the request's
// source address with the announced port) and returns its answer. The
// request's IP field is ignored: a tracker that believed it could be used to
// aim a swarm at a third party.
func (t *Tracker) Announce(now time.Time, src netip.Addr, req tracker.AnnounceRequest) (tracker.AnnounceResponse, error) {
	return t.announce(now, src, req, nil)
}

// announce is Announce appending the peers to buf, so a server loop can reuse
// one buffer for every reply.
func (t *Tracker) announce(now time.Time, src netip.Addr, req tracker.AnnounceRequest, buf []tracker.Peer) (tracker.AnnounceResponse, error) {
	resp := tracker.AnnounceResponse{Interval: t.cfg.Interval, MinInterval: t.cfg.MinInterval}
	if req.Port == 0 {
		return resp, ErrPort
	}
	from := netip.AddrPortFrom(src.Unmap(), req.Port)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.torrents[req.InfoHash]
	if req.Event == tracker.EventStopped {
		if s != nil {
			t.remove(s, req.InfoHash, from)
			resp.Complete, resp.Incomplete = s.seeders, s.size()-s.seeders
		}
		return resp, nil
	}
	if s == nil {
		if len(t.torrents) >= t.cfg.MaxTorrents {
			t.sweepThrottled(now)
		}
		if len(t.torrents) >= t.cfg.MaxTorrents {
			return resp, ErrFull
		}
		s = &swarm{index: make(map[netip.AddrPort]int32)}
		t.torrents[req.InfoHash] = s
	}
	var p *peerEntry
	if i, ok := s.index[from]; ok {
		p = &s.list[i]
	} else {
		if s.size() >= t.cfg.MaxPeersPerTorrent || t.peers >= t.cfg.MaxPeers {
			t.sweepSwarm(s, req.InfoHash, now)
			if t.peers >= t.cfg.MaxPeers {
				t.sweepThrottled(now)
			}
			if t.torrents[req.InfoHash] == nil { // the sweep emptied it
				t.torrents[req.InfoHash] = s
			}
		}
		// A full swarm still answers; it just does not remember the newcomer, nor one
		// more peer from a source that has its share of the swarm already.
		if s.size() < t.cfg.MaxPeersPerTorrent && t.peers < t.cfg.MaxPeers && t.admitSource(s, from.Addr()) {
			s.index[from] = int32(len(s.list))
			s.list = append(s.list, peerEntry{addr: from})
			p = &s.list[len(s.list)-1]
			t.peers++
		}
	}
	if p != nil {
		seed := req.Left == 0
		if seed != p.seed {
			if seed {
				s.seeders++
			} else {
				s.seeders--
			}
		}
		if (req.Bid > 0) != (p.bid > 0) {
			if req.Bid > 0 {
				s.bidders++
			} else {
				s.bidders--
			}
		}
		if req.Bid != p.bid {
			t.bidsDirty = true
		}
		old := p.bid
		p.id, p.seed, p.bid, p.seen = req.PeerID, seed, req.Bid, now.UnixNano()
		if p.bid > 0 || old > 0 {
			t.noteBid(s, p, old)
		}
		if req.Event == tracker.EventCompleted {
			s.downloaded++
		}
	}
	if s.size() == 0 { // a full tracker answered a newcomer it could not hold
		delete(t.torrents, req.InfoHash)
	}
	resp.Complete, resp.Incomplete = s.seeders, s.size()-s.seeders
	want := req.NumWant
	if want <= 0 {
		want = t.cfg.DefaultNumWant
	}
	want = min(want, t.cfg.MaxNumWant)
	if req.Top > 0 {
		resp.HasBids = true
		resp.Peers = t.topBidders(buf, s, from, now.UnixNano(), min(req.Top, want), max(req.MinBid, 1))
	} else {
		resp.Peers = t.somePeers(buf, s, from, now, want, req.Left == 0)
	}
	return resp, nil
}

func (t *Tracker) expired(p *peerEntry, now time.Time) bool {
	return now.UnixNano()-p.seen > int64(t.cfg.ExpireAfter)
}

// somePeers appends to buf up to n live peers other than self; seeds get no
// seeds. Each list starts where the previous one stopped, so successive
// announces spread over the whole swarm.
func (t *Tracker) somePeers(buf []tracker.Peer, s *swarm, self netip.AddrPort, now time.Time, n int, seed bool) []tracker.Peer {
	out := buf[:0]
	size := s.size()
	if size == 0 {
		return out
	}
	if cap(out) < min(n, size) {
		out = make([]tracker.Peer, 0, min(n, size))
	}
	start := int(s.cursor % uint32(size))
	cutoff := now.UnixNano() - int64(t.cfg.ExpireAfter)
	i := start
	for k := 0; k < size && len(out) < n; k++ {
		p := &s.list[i]
		if p.addr != self && !(seed && p.seed) && p.seen >= cutoff {
			out = append(out, tracker.Peer{Addr: p.addr, ID: p.id})
		}
		if i++; i == size {
			i = 0
		}
	}
	s.cursor = uint32(i)
	return out
}

func (t *Tracker) remove(s *swarm, ih [20]byte, ap netip.AddrPort) {
	i, ok := s.index[ap]
	if !ok {
		return
	}
	p := &s.list[i]
	if p.seed {
		s.seeders--
	}
	if p.bid > 0 {
		s.bidders--
		t.bidsDirty = true
		old := p.bid
		p.bid = 0
		t.noteBid(s, p, old)
	}
	t.releaseSource(s, ap.Addr())
	last := len(s.list) - 1
	if int(i) != last {
		s.list[i] = s.list[last]
		s.index[s.list[i].addr] = i
	}
	s.list = s.list[:last]
	delete(s.index, ap)
	t.peers--
	if len(s.list) == 0 {
		delete(t.torrents, ih)
	}
}

func (t *Tracker) sweepSwarm(s *swarm, ih [20]byte, now time.Time) {
	// Walk backwards: remove swaps the last peer into the hole, which has
	// then already been looked at.
	for i := len(s.list) - 1; i >= 0; i-- {
		if i < len(s.list) && t.expired(&s.list[i], now) {
			t.remove(s, ih, s.list[i].addr)
		}
	}
}

// Sweep forgets expired peers and empty torrents. Call it periodically
// (btt-tracker does every minute): expired peers are never handed out, but
// they hold memory until a sweep. It also runs by itself when a bound is
// reached.
func (t *Tracker) Sweep(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
}

func (t *Tracker) sweep(now time.Time) {
	t.lastSweep = now
	for ih, s := range t.torrents {
		t.sweepSwarm(s, ih, now)
	}
}

// sweepThrottled sweeps unless it did in the last ten seconds, so a flood of
// new torrents against a full tracker cannot make every request O(peers).
func (t *Tracker) sweepThrottled(now time.Time) {
	if now.Sub(t.lastSweep) >= 10*time.Second {
		t.sweep(now)
	}
}

// Scrape returns the counts of each hash (zero counts for unknown ones).
func (t *Tracker) Scrape(hashes [][20]byte) []tracker.ScrapeResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]tracker.ScrapeResult, len(hashes))
	for i, ih := range hashes {
		if s := t.torrents[ih]; s != nil {
			out[i] = tracker.ScrapeResult{Complete: s.seeders, Downloaded: s.downloaded, Incomplete: s.size() - s.seeders}
		}
	}
	return out
}

// BidScrape returns the page of torrents with live bids starting at offset,
// at most limit entries, ordered by highest bid (then by bidder count, then
// by info-hash).
func (t *Tracker) BidScrape(now time.Time, offset, limit int) tracker.BidScrapePage {
	limit = min(max(limit, 1), tracker.MaxBidScrapeLimit)
	t.mu.Lock()
	defer t.mu.Unlock()
	// Rebuilding costs O(peers of bidding torrents); it happens only when a bid
	// changed since the last bid-scrape. Expired bidders are skipped here and
	// leave at the next sweep.
	if t.bidsDirty || t.bidsSorted == nil || now.Sub(t.lastSweep) > t.cfg.ExpireAfter {
		t.bidsSorted = t.bidsSorted[:0]
		for ih, s := range t.torrents {
			if s.bidders == 0 {
				continue
			}
			e := tracker.BidScrapeEntry{InfoHash: ih}
			for i := range s.list {
				if p := &s.list[i]; p.bid > 0 && !t.expired(p, now) {
					e.Count++
					e.High = max(e.High, p.bid)
				}
			}
			if e.Count > 0 {
				t.bidsSorted = append(t.bidsSorted, e)
			}
		}
		slices.SortFunc(t.bidsSorted, func(a, b tracker.BidScrapeEntry) int {
			if c := cmp.Compare(b.High, a.High); c != 0 {
				return c
			}
			if c := cmp.Compare(b.Count, a.Count); c != 0 {
				return c
			}
			return slices.Compare(a.InfoHash[:], b.InfoHash[:])
		})
		t.bidsDirty = false
		if now.Sub(t.lastSweep) > t.cfg.ExpireAfter {
			t.sweep(now)
		}
	}
	var p tracker.BidScrapePage
	if offset < 0 || offset >= len(t.bidsSorted) {
		return p
	}
	end := min(offset+limit, len(t.bidsSorted))
	p.Entries = slices.Clone(t.bidsSorted[offset:end])
	if end < len(t.bidsSorted) {
		p.Next = end
	}
	return p
}

// Stats is a snapshot of a tracker's size.
type Stats struct {
	Torrents, Peers int
}

// Stats returns how many torrents and peers the tracker holds.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Torrents: len(t.torrents), Peers: t.peers}
}

func (s Stats) String() string { return fmt.Sprintf("%d torrents, %d peers", s.Torrents, s.Peers) }
