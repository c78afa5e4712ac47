package dht

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speedbt/btt/dht/krpc"
)

// heapNow returns the live heap after a collection.
func heapNow() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerTableEntry fills routing tables to their full depth and reports
// the heap each entry costs.
func BenchmarkMemoryPerTableEntry(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	now := time.Unix(1e9, 0)
	const tables = 20
	before := heapNow()
	keep := make([]*table, 0, tables)
	entries := 0
	for range tables {
		self := randID(r)
		tb := newTable(self, 8, now)
		// Nodes at every prefix length, so every bucket fills.
		for depth := range 160 {
			for j := range 10 {
				id := randID(r)
				for bit := 0; bit < depth; bit++ {
					m := byte(0x80) >> (bit % 8)
					id[bit/8] = id[bit/8]&^m | self[bit/8]&m
				}
				m := byte(0x80) >> (depth % 8)
				id[depth/8] = id[depth/8]&^m | (^self[depth/8])&m
				tb.update(NodeInfo{ID: id, Addr: addrN(depth*16 + j + entries)}, now, true)
			}
		}
		entries += tb.Len()
		keep = append(keep, tb)
	}
	after := heapNow()
	for b.Loop() {
	}
	b.ReportMetric(float64(after-before)/float64(entries), "B/entry")
	b.ReportMetric(float64(entries)/tables, "entries/table")
	runtime.KeepAlive(keep)
}

// BenchmarkMemoryPerStoredPeer fills the peer store and reports the heap per peer.
func BenchmarkMemoryPerStoredPeer(b *testing.B) {
	now := time.Unix(1e9, 0)
	s := newPeerStore(4096, 256, 1<<20, time.Hour)
	r := rand.New(rand.NewPCG(2, 2))
	before := heapNow()
	for i := range 200000 {
		s.add(ID{byte(i % 1000), byte(i % 997)}, addrN(r.IntN(1<<24)), now)
	}
	after := heapNow()
	for b.Loop() {
	}
	b.ReportMetric(float64(after-before)/float64(s.total), "B/peer")
	b.ReportMetric(float64(s.total), "peers")
	runtime.KeepAlive(s)
}

// BenchmarkHandleQuery measures answering a query in memory: the CPU bound on how
// many queries a node can answer.
func BenchmarkHandleQuery(b *testing.B) {
	for _, method := range []string{"ping", "find_node", "get_peers"} {
		b.Run(method, func(b *testing.B) {
			sent := 0
			n, err := New(Config{Rand: rand.NewChaCha8([32]byte{}), RateLimit: 1e9, RateBurst: 1e9,
				Send: func([]byte, netip.AddrPort) error { sent++; return nil }})
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			r := rand.New(rand.NewPCG(3, 3))
			n.mu.Lock()
			for i := range 2000 {
				n.tbl.update(NodeInfo{ID: randID(r), Addr: addrN(i)}, time.Now(), true)
			}
			n.mu.Unlock()
			a := krpc.Args{ID: randID(r), Target: randID(r), InfoHash: randID(r)}
			m := krpc.Msg{T: []byte("ab"), Y: "q", Q: method, A: &a}
			pkt, _ := m.Marshal()
			from := netip.MustParseAddrPort("1.2.3.4:5")
			b.ReportAllocs()
			for b.Loop() {
				n.HandlePacket(pkt, from)
			}
			if sent < b.N {
				b.Fatalf("%d replies to %d queries", sent, b.N)
			}
		})
	}
}

// BenchmarkLoopbackQPS measures how many get_peers queries per second one node
// answers on a real loopback UDP socket, with 4 clients keeping 64 queries in flight
// each.
func BenchmarkLoopbackQPS(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	srv.SetReadBuffer(4 << 20)
	n, err := New(Config{Send: UDPSender(srv), RateLimit: 1e9, RateBurst: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	go n.Serve(ctx, srv)
	r := rand.New(rand.NewPCG(4, 4))
	n.mu.Lock()
	for i := range 500 {
		n.tbl.update(NodeInfo{ID: randID(r), Addr: addrN(i)}, time.Now(), true)
	}
	n.mu.Unlock()
	to := srv.LocalAddr().(*net.UDPAddr)
	a := krpc.Args{ID: randID(r), InfoHash: randID(r)}
	q := krpc.Msg{T: []byte("ab"), Y: "q", Q: "get_peers", A: &a}
	pkt, _ := q.Marshal()

	const clients, window = 4, 64
	var answered atomic.Int64
	b.ResetTimer()
	start := time.Now()
	done := make(chan struct{}, clients)
	per := b.N/clients + 1
	for range clients {
		go func() {
			defer func() { done <- struct{}{} }()
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return
			}
			defer c.Close()
			c.SetReadBuffer(4 << 20)
			buf := make([]byte, 2048)
			inflight, sentN := 0, 0
			for got := 0; got < per; {
				for inflight < window && sentN < per {
					c.WriteToUDP(pkt, to)
					inflight++
					sentN++
				}
				c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, _, err := c.ReadFromUDP(buf); err != nil {
					// A lost datagram: count it as done so the loop ends.
					got += inflight
					inflight = 0
					continue
				}
				inflight--
				got++
				answered.Add(1)
			}
		}()
	}
	for range clients {
		<-done
	}
	el := time.Since(start)
	b.ReportMetric(float64(answered.Load())/el.Seconds(), "answers/s")
	b.ReportMetric(float64(answered.Load())/float64(clients*per), "answered-fraction")
}
