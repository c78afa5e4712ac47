package dht_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/speedbt/btt/dht"
	"github.com/speedbt/btt/dht/krpc"
	"github.com/speedbt/btt/dht/sim"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// probe is a node under test with a fake wire: the test hands it packets and reads
// what it sends.
type probe struct {
	t     *testing.T
	clock *sim.Clock
	node  *dht.Node
	mu    sync.Mutex // Ping sends from another goroutine
	sent  []sentPacket
}

// waitQuery waits for the node to send its first query and returns it.
func (p *probe) waitQuery() *krpc.Msg {
	p.t.Helper()
	for range 10000 {
		p.mu.Lock()
		if len(p.sent) > 0 {
			b := p.sent[0].b
			p.mu.Unlock()
			m, err := krpc.Decode(b)
			if err != nil {
				p.t.Fatal(err)
			}
			return m
		}
		p.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	p.t.Fatal("no query sent")
	return nil
}

type sentPacket struct {
	b  []byte
	to netip.AddrPort
}

func newProbe(t *testing.T, cfg dht.Config) *probe {
	p := &probe{t: t, clock: sim.NewClock(epoch)}
	cfg.Clock = p.clock
	cfg.Rand = rand.NewChaCha8([32]byte{1})
	cfg.Send = func(b []byte, to netip.AddrPort) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.sent = append(p.sent, sentPacket{append([]byte(nil), b...), to})
		return nil
	}
	n, err := dht.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.node = n
	t.Cleanup(func() { n.Close() })
	return p
}

// ask sends a query and returns the decoded reply, or nil when there is none.
func (p *probe) ask(m krpc.Msg, from netip.AddrPort) (*krpc.Msg, int, int) {
	p.t.Helper()
	b, err := m.Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	p.sent = nil
	p.node.HandlePacket(b, from)
	for _, s := range p.sent {
		if s.to != from {
			continue
		}
		r, err := krpc.Decode(s.b)
		if err != nil {
			p.t.Fatalf("node sent undecodable packet %q: %v", s.b, err)
		}
		if r.Y != krpc.TypeQuery {
			return r, len(b), len(s.b)
		}
	}
	return nil, len(b), 0
}

var (
	idA = dht.ID([]byte("abcdefghij0123456789"))
	ih  = dht.ID([]byte("mnopqrstuvwxyz123456"))
	a1  = netip.MustParseAddrPort("1.2.3.4:6881")
)

func q(method string, a krpc.Args) krpc.Msg {
	return krpc.Msg{T: []byte("aa"), Y: krpc.TypeQuery, Q: method, A: &a}
}

func TestQueries(t *testing.T) {
	p := newProbe(t, dht.Config{})

	r, _, _ := p.ask(q("ping", krpc.Args{ID: idA}), a1)
	if r == nil || r.Y != "r" || r.R.ID != p.node.ID() || string(r.T) != "aa" {
		t.Fatalf("ping reply %+v", r)
	}
	if r.IP != a1 {
		t.Errorf("BEP 42 ip key = %v, want %v", r.IP, a1)
	}

	// get_peers, then announce_peer with its token, then get_peers returns the peer.
	r, _, _ = p.ask(q("get_peers", krpc.Args{ID: idA, InfoHash: ih}), a1)
	if r == nil || r.R.Token == nil || r.R.Values != nil {
		t.Fatalf("get_peers reply %+v", r.R)
	}
	tok := r.R.Token
	r, _, _ = p.ask(q("announce_peer", krpc.Args{ID: idA, InfoHash: ih, Port: 5555, Token: tok}), a1)
	if r == nil || r.Y != "r" {
		t.Fatalf("announce reply %+v", r)
	}
	// implied_port: the UDP source port is used.
	a2 := netip.MustParseAddrPort("1.2.3.5:7777")
	r, _, _ = p.ask(q("get_peers", krpc.Args{ID: idA, InfoHash: ih}), a2)
	if r == nil || len(r.R.Values) != 1 || r.R.Values[0] != netip.MustParseAddrPort("1.2.3.4:5555") {
		t.Fatalf("values = %v", r.R.Values)
	}
	r, _, _ = p.ask(q("announce_peer", krpc.Args{ID: idA, InfoHash: ih, Port: 1, ImpliedPort: true, Token: r.R.Token}), a2)
	if r == nil || r.Y != "r" {
		t.Fatalf("implied_port announce %+v", r)
	}
	r, _, _ = p.ask(q("get_peers", krpc.Args{ID: idA, InfoHash: ih}), a1)
	if !slices.Contains(r.R.Values, a2) {
		t.Fatalf("implied port not stored: %v", r.R.Values)
	}

	errCases := []struct {
		name string
		m    krpc.Msg
		from netip.AddrPort
		code int
	}{
		{"token of another IP", q("announce_peer", krpc.Args{ID: idA, InfoHash: ih, Port: 1, Token: tok}), netip.MustParseAddrPort("9.9.9.9:1"), krpc.ErrProtocol},
		{"no token", q("announce_peer", krpc.Args{ID: idA, InfoHash: ih, Port: 1}), a1, krpc.ErrProtocol},
		{"missing id", q("ping", krpc.Args{}), a1, krpc.ErrProtocol},
		{"missing target", q("find_node", krpc.Args{ID: idA}), a1, krpc.ErrProtocol},
		{"missing info_hash", q("get_peers", krpc.Args{ID: idA}), a1, krpc.ErrProtocol},
		{"unknown method", q("vote", krpc.Args{ID: idA, Target: ih}), a1, krpc.ErrMethodUnknown},
		{"sample without target", q("sample_infohashes", krpc.Args{ID: idA}), a1, krpc.ErrProtocol},
	}
	for _, c := range errCases {
		r, _, _ := p.ask(c.m, c.from)
		if r == nil || r.Y != "e" || r.E.Code != c.code || string(r.T) != "aa" {
			t.Errorf("%s: reply %+v, want error %d", c.name, r, c.code)
		}
	}
	// A malformed query whose transaction ID is readable gets 203.
	p.sent = nil
	p.node.HandlePacket([]byte("d1:ad2:id3:abce1:q4:ping1:t2:zz1:y1:qe"), a1)
	if len(p.sent) != 1 || !bytes.Contains(p.sent[0].b, []byte("i203e")) || !bytes.Contains(p.sent[0].b, []byte("1:t2:zz")) {
		t.Errorf("malformed query answered with %v", p.sent)
	}
	// Garbage gets nothing.
	p.sent = nil
	for _, g := range []string{"", "x", "d1:t2:zz", "le", "d1:y1:re"} {
		p.node.HandlePacket([]byte(g), a1)
	}
	if len(p.sent) != 0 {
		t.Errorf("garbage answered: %v", p.sent)
	}
	if s := p.node.Stats(); s.Malformed != 6 || s.BadTokens != 2 || s.Announces != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestResponseSize checks that no reply exceeds MaxResponseFactor (4) times its query,
// however many peers are stored.
func TestResponseSize(t *testing.T) {
	p := newProbe(t, dht.Config{MaxValues: 500, MaxPeersPerTorrent: 1000, RateLimit: 1e6, RateBurst: 1e6})
	for i := range 300 {
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{5, 0, byte(i >> 8), byte(i)}), 1000)
		r, _, _ := p.ask(q("get_peers", krpc.Args{ID: idA, InfoHash: ih}), from)
		p.ask(q("announce_peer", krpc.Args{ID: idA, InfoHash: ih, Port: 1, Token: r.R.Token}), from)
	}
	r, ql, rl := p.ask(q("get_peers", krpc.Args{ID: idA, InfoHash: ih}), a1)
	if r == nil {
		t.Fatal("no reply")
	}
	if rl > 4*ql {
		t.Fatalf("reply %d bytes for a %d-byte query (bound 4x)", rl, ql)
	}
	if len(r.R.Values) < 20 {
		t.Fatalf("only %d values in a %d-byte reply", len(r.R.Values), rl)
	}
	t.Logf("query %d bytes, reply %d bytes with %d values", ql, rl, len(r.R.Values))
}

// TestFlood sends 20,000 queries from one address and 20,000 from spoofed ones: the
// node answers at most its rate, bans the flooder, and its memory stays bounded.
func TestFlood(t *testing.T) {
	p := newProbe(t, dht.Config{RateLimit: 10, RateBurst: 20, RateBanAfter: 100, MaxRateEntries: 1000})
	pq := q("ping", krpc.Args{ID: idA})
	ping, _ := pq.Marshal()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	answered := 0
	for i := range 20000 {
		p.sent = p.sent[:0]
		if i%1000 == 0 {
			p.clock.AfterFunc(100*time.Millisecond, func() {})
			p.clock.Step() // 0.1 s passes per 1000 queries
		}
		p.node.HandlePacket(ping, a1)
		answered += len(p.sent)
	}
	// 20 burst + 10/s over 2 s.
	if answered > 45 {
		t.Errorf("flooder got %d answers", answered)
	}
	s := p.node.Stats()
	if s.Banned != 0 || s.RateLimited < 19000 {
		t.Errorf("stats after flood: %+v (pings prove no source: rate-limited, never banned)", s)
	}
	// The flood may have been spoofed: the address it named is answered once it stops.
	p.clock.AfterFunc(5*time.Second, func() {})
	p.clock.Step()
	if r, _, _ := p.ask(pq, a1); r == nil {
		t.Error("the address a ping flood named is still refused after it stopped")
	}
	// A flood that proves its source (announce_peer with the token we gave that address)
	// earns a ban.
	a2 := netip.MustParseAddrPort("2.3.4.5:6881")
	r, _, _ := p.ask(q("get_peers", krpc.Args{ID: idA, InfoHash: ih}), a2)
	if r == nil || r.R.Token == nil {
		t.Fatal("no token")
	}
	aq := q("announce_peer", krpc.Args{ID: idA, InfoHash: ih, Port: 1, Token: r.R.Token})
	announce, _ := aq.Marshal()
	for range 2000 {
		p.node.HandlePacket(announce, a2)
	}
	if s = p.node.Stats(); s.Banned != 1 {
		t.Errorf("verified flood: %d bans, want 1", s.Banned)
	}
	p.clock.AfterFunc(5*time.Second, func() {})
	p.clock.Step()
	if r, _, _ := p.ask(pq, a2); r != nil {
		t.Error("banned address answered")
	}
	// Spoofed sources: each gets an answer (and maybe a verification ping), but state
	// stays bounded.
	for i := range 20000 {
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{7, byte(i >> 16), byte(i >> 8), byte(i)}), 1)
		p.node.HandlePacket(ping, from)
	}
	s = p.node.Stats()
	if s.Pending > 1024 {
		t.Errorf("%d transactions pending", s.Pending)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew %d KiB over 40,000 flood packets; pending %d", grown/1024, s.Pending)
	if grown > 16<<20 {
		t.Errorf("heap grew %d bytes", grown)
	}
}

// TestUnmatchedReply checks that replies are matched on transaction ID and address.
func TestUnmatchedReply(t *testing.T) {
	p := newProbe(t, dht.Config{})
	done := make(chan error, 1)
	go func() { _, err := p.node.Ping(context.Background(), a1); done <- err }()
	m := p.waitQuery()
	if len(m.T) != 4 || m.Q != "ping" {
		t.Fatalf("query %+v", m)
	}
	reply := func(from netip.AddrPort, tid []byte, id dht.ID) {
		b, _ := (&krpc.Msg{T: tid, Y: "r", R: &krpc.Return{ID: id}}).Marshal()
		p.node.HandlePacket(b, from)
	}
	reply(netip.MustParseAddrPort("6.6.6.6:6881"), m.T, idA) // right tid, wrong address
	reply(a1, []byte("xxxx"), idA)                           // right address, wrong tid
	if s := p.node.Stats(); s.Unmatched != 2 {
		t.Fatalf("unmatched = %d", s.Unmatched)
	}
	reply(a1, m.T, idA)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := p.node.Nodes(); len(n) != 1 || n[0].ID != idA {
		t.Fatalf("table after reply: %v", n)
	}
}

func newNet(t *testing.T, n int, cfg dht.Config) (*sim.Network, []*sim.Host) {
	nw := sim.NewNetwork(7, epoch)
	var hosts []*sim.Host
	for i := range n {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, 0, byte(i >> 8), byte(i)}), 6881)
		h, err := nw.AddHost(a, cfg)
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	pending := 0
	for _, h := range hosts[1:] {
		pending++
		h.Node.BootstrapAsync([]netip.AddrPort{hosts[0].Addr}, func(err error) {
			if err != nil {
				t.Error(err)
			}
			pending--
		})
	}
	if !nw.Clock.RunUntil(func() bool { return pending == 0 }, epoch.Add(time.Hour)) {
		t.Fatal("bootstrap did not finish")
	}
	return nw, hosts
}

func run[T any](t *testing.T, nw *sim.Network, start func(func(T))) T {
	t.Helper()
	var res T
	done := false
	start(func(r T) { res, done = r, true })
	if !nw.Clock.RunUntil(func() bool { return done }, nw.Clock.Now().Add(time.Hour)) {
		t.Fatal("did not finish")
	}
	return res
}

func TestAnnounceAndGetPeers(t *testing.T) {
	nw, hosts := newNet(t, 60, dht.Config{})
	ann := run(t, nw, func(f func(dht.LookupResult)) {
		hosts[3].Node.LookupAsync(ih, dht.LookupOptions{Announce: true}, f) // implied port
	})
	if ann.Err != nil || ann.Announced < 6 {
		t.Fatalf("announce: %+v", ann)
	}
	var streamed []netip.AddrPort
	res := run(t, nw, func(f func(dht.LookupResult)) {
		hosts[40].Node.LookupAsync(ih, dht.LookupOptions{GetPeers: true, OnPeers: func(p []netip.AddrPort) { streamed = append(streamed, p...) }}, f)
	})
	if !slices.Contains(res.Peers, hosts[3].Addr) || !slices.Equal(streamed, res.Peers) {
		t.Fatalf("peers %v (streamed %v), want %v", res.Peers, streamed, hosts[3].Addr)
	}
	// The closest nodes a find_node returns really are the closest in the network.
	fn := run(t, nw, func(f func(dht.LookupResult)) { hosts[10].Node.LookupAsync(ih, dht.LookupOptions{}, f) })
	var all []dht.ID
	for _, h := range hosts {
		if h != hosts[10] {
			all = append(all, h.Node.ID())
		}
	}
	slices.SortFunc(all, func(a, b dht.ID) int {
		if ih.Closer(a, b) {
			return -1
		}
		return 1
	})
	for i, c := range fn.Closest {
		if c.ID != all[i] {
			t.Fatalf("closest[%d] = %s, want %s", i, c.ID, all[i])
		}
	}
}

// TestReadOnly: a BEP 43 read-only node can look up and announce, but does not answer
// queries and does not enter others' routing tables.
func TestReadOnly(t *testing.T) {
	nw, hosts := newNet(t, 30, dht.Config{})
	ro, err := nw.AddHost(netip.MustParseAddrPort("12.0.0.1:6881"), dht.Config{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(t, nw, func(f func(error)) { ro.Node.BootstrapAsync([]netip.AddrPort{hosts[0].Addr}, f) }); err != nil {
		t.Fatal(err)
	}
	ann := run(t, nw, func(f func(dht.LookupResult)) {
		ro.Node.LookupAsync(ih, dht.LookupOptions{Announce: true, Port: 999}, f)
	})
	if ann.Announced == 0 {
		t.Fatalf("read-only announce: %+v", ann)
	}
	for _, h := range hosts {
		for _, n := range h.Node.Nodes() {
			if n.Addr == ro.Addr {
				t.Fatalf("read-only node in %v's table", h.Addr)
			}
		}
	}
	// It does not answer: a bootstrap through it alone fails.
	lone, err := nw.AddHost(netip.MustParseAddrPort("12.0.0.2:6881"), dht.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(t, nw, func(f func(error)) { lone.Node.BootstrapAsync([]netip.AddrPort{ro.Addr}, f) }); err == nil {
		t.Fatal("bootstrap through a read-only node succeeded")
	}
	if s := ro.Node.Stats(); s.QueriesIn == 0 {
		t.Fatal("read-only node received no query to ignore")
	}
}

// TestLiarDropped: a node that answers with another ID than the one in our table is
// removed.
func TestLiarDropped(t *testing.T) {
	p := newProbe(t, dht.Config{})
	done := make(chan error, 1)
	go func() { _, err := p.node.Ping(context.Background(), a1); done <- err }()
	m := p.waitQuery()
	b, _ := (&krpc.Msg{T: m.T, Y: "r", R: &krpc.Return{ID: idA}}).Marshal()
	p.node.HandlePacket(b, a1)
	<-done
	if len(p.node.Nodes()) != 1 {
		t.Fatal("node not added")
	}
	// Now a lookup queries it (expecting idA); it answers as someone else.
	p.sent = nil
	p.node.LookupAsync(ih, dht.LookupOptions{}, func(dht.LookupResult) {})
	if len(p.sent) != 1 {
		t.Fatalf("lookup sent %d queries", len(p.sent))
	}
	m, _ = krpc.Decode(p.sent[0].b)
	b, _ = (&krpc.Msg{T: m.T, Y: "r", R: &krpc.Return{ID: ih}}).Marshal()
	p.node.HandlePacket(b, a1)
	if len(p.node.Nodes()) != 0 || p.node.Stats().Liars != 1 {
		t.Fatalf("liar kept: %v", p.node.Nodes())
	}
}

func TestStateRestore(t *testing.T) {
	nw, hosts := newNet(t, 40, dht.Config{})
	st := hosts[5].Node.State()
	if len(st.Nodes) < 10 {
		t.Fatalf("state holds %d nodes", len(st.Nodes))
	}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back dht.State
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if back.ID != st.ID || !slices.Equal(back.Nodes, st.Nodes) {
		t.Fatal("state round trip differs")
	}
	path := filepath.Join(t.TempDir(), "dht.state")
	if _, err := dht.ReadStateFile(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing state file: %v", err)
	}
	if err := dht.WriteStateFile(path, st); err != nil {
		t.Fatal(err)
	}
	if fromFile, err := dht.ReadStateFile(path); err != nil || fromFile.ID != st.ID || len(fromFile.Nodes) != len(st.Nodes) {
		t.Fatalf("state file: %v", err)
	}
	for _, bad := range []string{"", "de", "d2:id3:abce", "d2:id20:abcdefghij01234567895:nodes3:abce"} {
		if err := new(dht.State).UnmarshalBinary([]byte(bad)); err == nil {
			t.Errorf("state %q accepted", bad)
		}
	}
	// "Restart": a new node at another address with the saved state keeps its ID and
	// joins with no bootstrap address at all.
	hosts[5].Online = false
	h, err := nw.AddHost(netip.MustParseAddrPort("11.9.9.9:6881"), dht.Config{State: &back})
	if err != nil {
		t.Fatal(err)
	}
	if h.Node.ID() != st.ID {
		t.Fatal("ID not restored")
	}
	if err := run(t, nw, func(f func(error)) { h.Node.BootstrapAsync(nil, f) }); err != nil {
		t.Fatal(err)
	}
	if got := h.Node.Stats().TableNodes; got < 10 {
		t.Fatalf("restored node has %d nodes", got)
	}
}

// TestSecureIDsEnforced: with EnforceSecureIDs, nodes whose ID does not match their
// public address stay out of the routing table.
func TestSecureIDsEnforced(t *testing.T) {
	nw := sim.NewNetwork(3, epoch)
	good, _ := nw.AddHost(netip.MustParseAddrPort("11.0.0.1:1"), dht.Config{ExternalIP: netip.MustParseAddr("11.0.0.1")})
	liar, _ := nw.AddHost(netip.MustParseAddrPort("11.0.0.2:1"), dht.Config{ID: idA})
	strict, _ := nw.AddHost(netip.MustParseAddrPort("11.0.0.3:1"), dht.Config{EnforceSecureIDs: true, ExternalIP: netip.MustParseAddr("11.0.0.3")})
	if !dht.ValidSecureID(good.Node.ID(), good.Addr.Addr()) {
		t.Fatal("ExternalIP did not give a BEP 42 ID")
	}
	run(t, nw, func(f func(error)) { strict.Node.BootstrapAsync([]netip.AddrPort{good.Addr, liar.Addr}, f) })
	nodes := strict.Node.Nodes()
	if len(nodes) != 1 || nodes[0].Addr != good.Addr {
		t.Fatalf("strict table: %v", nodes)
	}
}

// TestUDPLoopback runs three nodes on real sockets.
func TestUDPLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var nodes []*dht.Node
	var addrs []netip.AddrPort
	for range 3 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
		if err != nil {
			t.Fatal(err)
		}
		n, err := dht.New(dht.Config{Send: dht.UDPSender(c), QueryTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		go n.Serve(ctx, c)
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
		addrs = append(addrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	for i, n := range nodes[1:] {
		if err := n.Bootstrap(ctx, addrs[:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	cnt, err := nodes[1].Announce(ctx, ih, 4242)
	if err != nil || cnt == 0 {
		t.Fatalf("announce: %d %v", cnt, err)
	}
	peers, err := nodes[2].GetPeers(ctx, ih)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(peers, netip.AddrPortFrom(addrs[1].Addr(), 4242)) {
		t.Fatalf("peers %v", peers)
	}
	if _, err := nodes[0].Ping(ctx, netip.MustParseAddrPort("127.0.0.1:1")); !errors.Is(err, dht.ErrTimeout) {
		t.Fatalf("ping of nobody: %v", err)
	}
}

// TestCloseEndsWaiters: Close ends a Ping and a lookup in flight at once.
func TestCloseEndsWaiters(t *testing.T) {
	p := newProbe(t, dht.Config{})
	pingErr := make(chan error, 1)
	go func() { _, err := p.node.Ping(context.Background(), a1); pingErr <- err }()
	p.waitQuery()
	p.node.Close()
	if err := <-pingErr; !errors.Is(err, dht.ErrClosed) {
		t.Fatalf("Ping after Close: %v", err)
	}
	if _, err := p.node.GetPeers(context.Background(), ih); !errors.Is(err, dht.ErrClosed) {
		t.Fatalf("GetPeers on a closed node: %v", err)
	}
}

// TestIPv6Network: nodes on IPv6 addresses find each other through "nodes6" (BEP 32)
// and exchange 18-byte peer addresses.
func TestIPv6Network(t *testing.T) {
	nw := sim.NewNetwork(11, epoch)
	var hosts []*sim.Host
	for i := range 40 {
		a := netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}), 6881)
		h, err := nw.AddHost(a, dht.Config{})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	for _, h := range hosts[1:] {
		if err := run(t, nw, func(f func(error)) { h.Node.BootstrapAsync([]netip.AddrPort{hosts[0].Addr}, f) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := hosts[20].Node.Stats().TableNodes; n < 10 {
		t.Fatalf("IPv6 node knows %d nodes", n)
	}
	ann := run(t, nw, func(f func(dht.LookupResult)) {
		hosts[7].Node.LookupAsync(ih, dht.LookupOptions{Announce: true, Port: 4000}, f)
	})
	if ann.Announced < 6 {
		t.Fatalf("announce: %+v", ann)
	}
	res := run(t, nw, func(f func(dht.LookupResult)) { hosts[30].Node.LookupAsync(ih, dht.LookupOptions{GetPeers: true}, f) })
	want := netip.AddrPortFrom(hosts[7].Addr.Addr(), 4000)
	if !slices.Contains(res.Peers, want) {
		t.Fatalf("peers %v, want %v", res.Peers, want)
	}
}
