package dht

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/speedbt/btt/dht/krpc"
)

// Errors a Node returns.
var (
	ErrClosed      = errors.New("dht: node closed")
	ErrTimeout     = errors.New("dht: query timed out")
	ErrBusy        = errors.New("dht: too many queries in flight")
	ErrIDMismatch  = errors.New("dht: node answered with another ID than it has")
	ErrNoNodes     = errors.New("dht: no node answered")
	ErrNoSend      = errors.New("dht: Config.Send is nil")
	ErrInvalidAddr = errors.New("dht: invalid address")
)

// defaultVersion is the "v" key we send: two letters of client and two of version, as
// BEP 20 and libtorrent do.
const defaultVersion = "SB\x00\x01"

// Config configures a Node. The zero value of every field except Send has a default.
type Config struct {
	// Send transmits one packet. It is called without the node's lock held and must not
	// block for long (a UDP write, or handing the packet to the simulator).
	Send func(b []byte, to netip.AddrPort) error

	// ID is the node ID. When zero: the ID of State if given, else a BEP 42 ID for
	// ExternalIP when it is a public address, else random.
	ID         ID
	ExternalIP netip.Addr
	State      *State // routing table saved by an earlier run; its nodes are pinged by Bootstrap

	Clock Clock     // default SystemClock
	Rand  io.Reader // secrets, IDs and transaction IDs; default crypto/rand. The simulator passes a seeded stream.

	ReadOnly bool   // BEP 43: query only, never answer, ask others not to store us
	Version  []byte // "v" key; default "SB" 0 1

	K                int           // bucket size and result set size; default 8 (BEP 5)
	Alpha            int           // parallel queries per lookup; default 3
	QueryTimeout     time.Duration // default 2s; libtorrent's is similar
	MaxLookupQueries int           // queries one lookup may send before it stops; default 256

	// AllowSameIP lets several routing-table entries share one public IP. Off by
	// default: one host must not fill our buckets with many ports and IDs (loopback and
	// private addresses are always exempt).
	AllowSameIP bool

	// EnforceSecureIDs keeps nodes whose ID breaks BEP 42 for their address out of the
	// routing table (they are still answered). Off by default, as in libtorrent, because
	// much of the public DHT does not comply yet.
	EnforceSecureIDs bool

	// Defences.
	MaxPending         int           // transactions in flight; default 1024
	RateLimit          float64       // queries answered per second per source IP; default 20
	RateBurst          int           // default 40
	RateBanAfter       int           // verified queries (valid token) dropped in a row that earn a ban; default 100
	RateBanFor         time.Duration // default 10 minutes
	MaxRateEntries     int           // source IPs tracked; default 16384
	MaxTorrents        int           // info-hashes stored; default 4096
	MaxPeersPerTorrent int           // default 256
	MaxPeers           int           // peers stored in total; default 65536
	PeerTTL            time.Duration // how long an announce is kept; default 30 minutes
	MaxValues          int           // peers in one get_peers reply; default 50
	// MaxResponseFactor bounds a reply to this many times the size of its query, so the
	// node cannot be used to amplify a spoofed flood; default 4: a minimal find_node query
	// (about 90 bytes) still gets its 8 nodes (about 300 bytes), and a get_peers query
	// about 30 values.
	MaxResponseFactor int
}

func (c *Config) setDefaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.K, 8)
	def(&c.Alpha, 3)
	def(&c.MaxLookupQueries, 256)
	def(&c.MaxPending, 1024)
	def(&c.RateBurst, 40)
	def(&c.RateBanAfter, 100)
	def(&c.MaxRateEntries, 16384)
	def(&c.MaxTorrents, 4096)
	def(&c.MaxPeersPerTorrent, 256)
	def(&c.MaxPeers, 65536)
	def(&c.MaxValues, 50)
	def(&c.MaxResponseFactor, 4)
	if c.RateLimit <= 0 {
		c.RateLimit = 20
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 2 * time.Second
	}
	if c.RateBanFor <= 0 {
		c.RateBanFor = 10 * time.Minute
	}
	if c.PeerTTL <= 0 {
		c.PeerTTL = 30 * time.Minute
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Version == nil {
		c.Version = []byte(defaultVersion)
	}
}

// Stats are counters a Node keeps; tests and the simulator assert on them.
type Stats struct {
	QueriesIn, QueriesOut   uint64
	RepliesIn, ErrorsIn     uint64
	Timeouts                uint64
	RateLimited, Banned     uint64
	Malformed, Unmatched    uint64
	Liars                   uint64 // replies with an ID other than the one asked
	BadTokens               uint64
	Announces               uint64 // announce_peer accepted
	TableNodes, StoredPeers int
	Pending                 int
	RoutingTableBuckets     int
}

// maintenanceEvery is how often the node refreshes stale buckets, pings questionable
// nodes and expires peers.
const maintenanceEvery = time.Minute

// Node is a DHT node. Its methods are safe for concurrent use.
type Node struct {
	cfg Config

	mu        sync.Mutex
	id        ID
	rng       *mrand.Rand
	tbl       *table
	tok       tokens
	store     *peerStore
	lim       *limiter
	pending   map[string]*transaction
	verifying map[netip.AddrPort]bool // unknown queriers being pinged
	lookups   map[*lookup]struct{}
	votes     map[netip.Addr]int // BEP 42: our external IP as others report it
	stats     Stats
	closed    bool
	tick      Timer

	// Work queued under mu and done after it is released: packets to send and
	// callbacks into user code.
	outbox []packet
	later  []func()
}

type packet struct {
	b  []byte
	to netip.AddrPort
}

type transaction struct {
	tid   string
	to    netip.AddrPort
	want  ID // ID expected in the reply; zero when unknown (bootstrap)
	timer Timer
	cb    func(m *krpc.Msg, err error) // called with n.mu held
}

// New returns a running node. Close stops it.
func New(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if cfg.Send == nil {
		return nil, ErrNoSend
	}
	var seed [32]byte
	if _, err := io.ReadFull(cfg.Rand, seed[:]); err != nil {
		return nil, fmt.Errorf("dht: reading randomness: %w", err)
	}
	n := &Node{
		cfg:       cfg,
		rng:       mrand.New(mrand.NewChaCha8(seed)),
		pending:   map[string]*transaction{},
		verifying: map[netip.AddrPort]bool{},
		lookups:   map[*lookup]struct{}{},
		votes:     map[netip.Addr]int{},
	}
	switch {
	case !cfg.ID.IsZero():
		n.id = cfg.ID
	case cfg.State != nil && !cfg.State.ID.IsZero() && (!cfg.ExternalIP.IsValid() || ValidSecureID(cfg.State.ID, cfg.ExternalIP)):
		n.id = cfg.State.ID
	case cfg.ExternalIP.IsValid():
		n.id = SecureID(cfg.ExternalIP, n.random20())
	default:
		n.id = ID(n.random20())
	}
	now := cfg.Clock.Now()
	n.tbl = newTable(n.id, cfg.K, now)
	n.tbl.onePerIP = !cfg.AllowSameIP
	n.store = newPeerStore(cfg.MaxTorrents, cfg.MaxPeersPerTorrent, cfg.MaxPeers, cfg.PeerTTL)
	n.lim = newLimiter(cfg.RateLimit, cfg.RateBurst, cfg.MaxRateEntries, cfg.RateBanAfter, cfg.RateBanFor)
	n.tok.rotate(now, n.random20)
	n.mu.Lock()
	n.tick = cfg.Clock.AfterFunc(maintenanceEvery, n.maintain)
	n.mu.Unlock()
	return n, nil
}

func (n *Node) random20() (b [20]byte) {
	for i := 0; i < 20; i += 8 {
		v := n.rng.Uint64()
		for j := 0; j < 8 && i+j < 20; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// ID returns the node's ID.
func (n *Node) ID() ID { return n.id }

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	s.TableNodes = n.tbl.Len()
	s.StoredPeers = n.store.total
	s.Pending = len(n.pending)
	s.RoutingTableBuckets = len(n.tbl.buckets)
	return s
}

// Nodes returns the live nodes of the routing table.
func (n *Node) Nodes() []NodeInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tbl.all()
}

// ExternalIP returns the address most nodes have told us we have (BEP 42 "ip" key).
func (n *Node) ExternalIP() (netip.Addr, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var best netip.Addr
	bestN := 0
	for ip, c := range n.votes {
		if c > bestN || (c == bestN && ip.Less(best)) {
			best, bestN = ip, c
		}
	}
	return best, bestN > 0
}

// Close stops the node: timers stop, lookups end with ErrClosed, packets are ignored.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.tick.Stop()
	pending := n.pending
	n.pending = map[string]*transaction{}
	for _, tx := range pending {
		tx.timer.Stop()
		tx.cb(nil, ErrClosed) // Ping and Bootstrap callers wait on these
	}
	for l := range n.lookups {
		l.finish(ErrClosed)
	}
	n.unlock()
	return nil
}

// unlock releases n.mu, then sends queued packets and runs queued callbacks.
func (n *Node) unlock() {
	out, later := n.outbox, n.later
	n.outbox, n.later = nil, nil
	n.mu.Unlock()
	for _, p := range out {
		_ = n.cfg.Send(p.b, p.to) // a lost datagram is a timeout later, like any loss
	}
	for _, f := range later {
		f()
	}
}

func (n *Node) send(b []byte, to netip.AddrPort) { n.outbox = append(n.outbox, packet{b, to}) }

// HandlePacket processes one datagram received from from. It is the entry point for
// every transport: Serve's socket loop, a socket shared with uTP, or the simulator. b is
// not retained.
func (n *Node) HandlePacket(b []byte, from netip.AddrPort) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if !from.IsValid() || from.Port() == 0 {
		return
	}
	m, err := krpc.Decode(b)
	n.mu.Lock()
	defer n.unlock()
	if n.closed {
		return
	}
	if err != nil {
		n.stats.Malformed++
		var me *krpc.MalformedError
		if errors.As(err, &me) && me.Y == krpc.TypeQuery && me.T != nil && !n.cfg.ReadOnly {
			if ok, _ := n.lim.allow(from.Addr(), n.cfg.Clock.Now(), false); ok {
				n.sendError(me.T, from, krpc.ErrProtocol, "malformed query")
			}
		}
		return
	}
	switch m.Y {
	case krpc.TypeQuery:
		n.handleQuery(m, from, len(b))
	default:
		n.handleReply(m, from)
	}
}

func (n *Node) sendError(t []byte, to netip.AddrPort, code int, msg string) {
	e := krpc.Msg{T: t, Y: krpc.TypeError, E: &krpc.Error{Code: code, Message: msg}, V: n.cfg.Version}
	b, err := e.Append(nil)
	if err == nil {
		n.send(b, to)
	}
}

func (n *Node) handleQuery(m *krpc.Msg, from netip.AddrPort, qlen int) {
	n.stats.QueriesIn++
	if n.cfg.ReadOnly {
		return // BEP 43: a read-only node does not answer
	}
	now := n.cfg.Clock.Now()
	// Only a query with a valid token proves its source (the token went to that address
	// alone), so only such queries can earn a ban; see limiter.
	n.tok.rotate(now, n.random20)
	verified := m.Q == krpc.MethodAnnouncePeer && m.A != nil && m.A.Token != nil && n.tok.valid(m.A.Token, from.Addr())
	ok, banned := n.lim.allow(from.Addr(), now, verified)
	if banned {
		n.stats.Banned++
		n.tbl.dropIP(from.Addr())
	}
	if !ok {
		n.stats.RateLimited++
		return
	}
	a := m.A
	if a.ID.IsZero() {
		n.sendError(m.T, from, krpc.ErrProtocol, "missing id")
		return
	}
	if !m.RO {
		n.heardFrom(NodeInfo{ID: a.ID, Addr: from}, now)
	}
	r := &krpc.Return{ID: n.id}
	switch m.Q {
	case krpc.MethodPing:
	case krpc.MethodFindNode:
		if a.Target.IsZero() {
			n.sendError(m.T, from, krpc.ErrProtocol, "missing target")
			return
		}
		n.setNodes(r, a.Target, from, a.Want)
	case krpc.MethodGetPeers:
		if a.InfoHash.IsZero() {
			n.sendError(m.T, from, krpc.ErrProtocol, "missing info_hash")
			return
		}
		n.tok.rotate(now, n.random20)
		r.Token = n.tok.make(from.Addr())
		r.Values = n.store.get(a.InfoHash, now, n.cfg.MaxValues, n.rng)
		n.setNodes(r, a.InfoHash, from, a.Want)
	case krpc.MethodAnnouncePeer:
		if a.InfoHash.IsZero() {
			n.sendError(m.T, from, krpc.ErrProtocol, "missing info_hash")
			return
		}
		n.tok.rotate(now, n.random20)
		if !n.tok.valid(a.Token, from.Addr()) {
			n.stats.BadTokens++
			n.sendError(m.T, from, krpc.ErrProtocol, "bad token")
			return
		}
		port := a.Port
		if a.ImpliedPort {
			port = int(from.Port())
		}
		if port == 0 {
			n.sendError(m.T, from, krpc.ErrProtocol, "missing port")
			return
		}
		if n.store.add(a.InfoHash, netip.AddrPortFrom(from.Addr(), uint16(port)), now) {
			n.stats.Announces++
		}
	case krpc.MethodSampleInfohashes:
		if a.Target.IsZero() {
			n.sendError(m.T, from, krpc.ErrProtocol, "missing target")
			return
		}
		n.setNodes(r, a.Target, from, a.Want)
		n.answerSample(r, m, from, qlen, now)
		return
	default:
		n.sendError(m.T, from, krpc.ErrMethodUnknown, "method unknown")
		return
	}
	resp := krpc.Msg{T: m.T, Y: krpc.TypeResponse, R: r, IP: from, V: n.cfg.Version}
	b, err := resp.Append(make([]byte, 0, 512))
	if err != nil {
		return
	}
	// Keep the reply within MaxResponseFactor times the query. With values, nodes go first
	// (BEP 5 answers values or nodes; the values are what the querier wants), then values.
	limit := n.cfg.MaxResponseFactor * qlen
	for len(b) > limit && (len(r.Values) > 0 || len(r.Nodes)+len(r.Nodes6) > 0) {
		switch {
		case len(r.Values) > 0 && len(r.Nodes6) > 0:
			r.Nodes6 = nil
		case len(r.Values) > 0 && len(r.Nodes) > 0:
			r.Nodes = nil
		case len(r.Values) > 0:
			over := (len(b) - limit + 7) / 8
			r.Values = r.Values[:max(0, len(r.Values)-over)]
		case len(r.Nodes6) > 0:
			r.Nodes6 = r.Nodes6[:len(r.Nodes6)-1]
		default:
			r.Nodes = r.Nodes[:len(r.Nodes)-1]
		}
		b, _ = resp.Append(b[:0])
	}
	if len(b) > limit {
		return
	}
	n.send(b, from)
}

// setNodes fills the closest nodes into r, in the families the querier wants (BEP 32),
// by default its own.
func (n *Node) setNodes(r *krpc.Return, target ID, from netip.AddrPort, want []string) {
	v4, v6 := from.Addr().Is4(), !from.Addr().Is4()
	if len(want) > 0 {
		v4, v6 = false, false
		for _, w := range want {
			v4 = v4 || w == "n4"
			v6 = v6 || w == "n6"
		}
	}
	closest := n.tbl.closest(target, n.cfg.K*2)
	var four, six []NodeInfo
	for _, c := range closest {
		if c.Addr.Addr().Is4() {
			if len(four) < n.cfg.K {
				four = append(four, c)
			}
		} else if len(six) < n.cfg.K {
			six = append(six, c)
		}
	}
	if v4 {
		r.Nodes = append([]NodeInfo{}, four...)
	}
	if v6 {
		r.Nodes6 = append([]NodeInfo{}, six...)
	}
}

// heardFrom updates the table for a node that sent us a query. An unknown node is only
// pinged (not trusted) when it could get into the table: its reply proves the address.
func (n *Node) heardFrom(ni NodeInfo, now time.Time) {
	if e := n.tbl.lookup(ni.Addr); e != nil {
		n.tbl.update(ni, now, false)
		return
	}
	if n.verifying[ni.Addr] || len(n.verifying) >= n.cfg.MaxPending/4 || !n.admissible(ni) || !n.tbl.accepts(ni.ID, ni.Addr) {
		return
	}
	n.verifying[ni.Addr] = true
	addr := ni.Addr
	n.query(ni.Addr, ni.ID, krpc.MethodPing, &krpc.Args{}, func(*krpc.Msg, error) { delete(n.verifying, addr) })
}

// admissible reports whether a node may enter the routing table at all.
func (n *Node) admissible(ni NodeInfo) bool {
	ip := ni.Addr.Addr()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ni.Addr.Port() == 0 {
		return false
	}
	return !n.cfg.EnforceSecureIDs || ValidSecureID(ni.ID, ip)
}

// noteNode records a verified node (it answered us).
func (n *Node) noteNode(ni NodeInfo, now time.Time) {
	if !n.admissible(ni) {
		return
	}
	if stalest := n.tbl.update(ni, now, true); stalest != nil {
		n.pingStale(stalest)
	}
}

func (n *Node) pingStale(e *entry) {
	if n.verifying[e.Addr] {
		return
	}
	n.verifying[e.Addr] = true
	addr := e.Addr
	n.query(e.Addr, e.ID, krpc.MethodPing, &krpc.Args{}, func(*krpc.Msg, error) { delete(n.verifying, addr) })
}

func (n *Node) handleReply(m *krpc.Msg, from netip.AddrPort) {
	tx := n.pending[string(m.T)]
	if tx == nil || tx.to != from {
		// Unknown or mismatched transaction: a late reply, or a forgery.
		n.stats.Unmatched++
		return
	}
	delete(n.pending, tx.tid)
	tx.timer.Stop()
	now := n.cfg.Clock.Now()
	if m.Y == krpc.TypeError {
		n.stats.ErrorsIn++
		if e := n.tbl.lookup(from); e != nil {
			e.lastSeen = now
		}
		tx.cb(nil, m.E)
		return
	}
	n.stats.RepliesIn++
	if m.R.ID.IsZero() || (!tx.want.IsZero() && m.R.ID != tx.want) {
		// The node answers with an ID other than the one it had: it restarted with a new
		// ID or it lies. Either way the old entry is wrong.
		n.stats.Liars++
		n.tbl.drop(from)
		tx.cb(nil, ErrIDMismatch)
		return
	}
	if ip := m.IP.Addr().Unmap(); m.IP.IsValid() && !IsLocalAddr(ip) {
		if _, ok := n.votes[ip]; ok || len(n.votes) < 64 {
			n.votes[ip]++
		}
	}
	if !m.RO {
		n.noteNode(NodeInfo{ID: m.R.ID, Addr: from}, now)
	}
	tx.cb(m, nil)
}

// query sends a query and arranges for cb to be called (with n.mu held) with the reply
// or an error. It reports false, without calling cb, when the node is closed or too many
// queries are in flight.
func (n *Node) query(to netip.AddrPort, want ID, method string, a *krpc.Args, cb func(*krpc.Msg, error)) bool {
	if n.closed || len(n.pending) >= n.cfg.MaxPending {
		return false
	}
	var tid [4]byte
	for {
		v := n.rng.Uint32()
		tid = [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
		if n.pending[string(tid[:])] == nil {
			break
		}
	}
	a.ID = n.id
	m := krpc.Msg{T: tid[:], Y: krpc.TypeQuery, Q: method, A: a, V: n.cfg.Version, RO: n.cfg.ReadOnly}
	b, err := m.Append(make([]byte, 0, 128))
	if err != nil {
		return false
	}
	tx := &transaction{tid: string(tid[:]), to: to, want: want, cb: cb}
	tx.timer = n.cfg.Clock.AfterFunc(n.cfg.QueryTimeout, func() { n.timeout(tx) })
	n.pending[tx.tid] = tx
	n.stats.QueriesOut++
	n.send(b, to)
	return true
}

func (n *Node) timeout(tx *transaction) {
	n.mu.Lock()
	defer n.unlock()
	if n.pending[tx.tid] != tx {
		return
	}
	delete(n.pending, tx.tid)
	n.stats.Timeouts++
	n.tbl.failed(tx.to)
	tx.cb(nil, ErrTimeout)
}

// Ping sends a ping to addr and waits for the reply; a node that answers enters the
// routing table.
func (n *Node) Ping(ctx context.Context, addr netip.AddrPort) (ID, error) {
	type res struct {
		id  ID
		err error
	}
	ch := make(chan res, 1)
	n.mu.Lock()
	ok := n.query(addr, ID{}, krpc.MethodPing, &krpc.Args{}, func(m *krpc.Msg, err error) {
		if err != nil {
			ch <- res{err: err}
			return
		}
		ch <- res{id: m.R.ID}
	})
	closed := n.closed
	n.unlock()
	if !ok {
		if closed {
			return ID{}, ErrClosed
		}
		return ID{}, ErrBusy
	}
	select {
	case r := <-ch:
		return r.id, r.err
	case <-ctx.Done():
		return ID{}, ctx.Err()
	}
}

// maintain runs every minute: expire peers, rotate tokens, refresh buckets nobody
// touched for 15 minutes (BEP 5), and ping questionable nodes so bad ones get replaced.
func (n *Node) maintain() {
	n.mu.Lock()
	defer n.unlock()
	if n.closed {
		return
	}
	now := n.cfg.Clock.Now()
	n.store.expire(now)
	n.tok.rotate(now, n.random20)
	for _, e := range n.tbl.questionable(now, 8) {
		n.pingStale(e)
	}
	if n.tbl.Len() > 0 {
		for _, i := range n.tbl.stale(now.Add(-goodFor)) {
			n.tbl.buckets[i].changed = now
			n.startLookup(n.tbl.randomIDIn(i, n.random20()), opFindNode, 0, nil, nil, nil)
		}
	}
	n.tick = n.cfg.Clock.AfterFunc(maintenanceEvery, n.maintain)
}
