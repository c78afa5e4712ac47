package dht

import (
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestSecureIDVectors checks the test vectors of BEP 42.
func TestSecureIDVectors(t *testing.T) {
	vectors := []struct {
		ip   string
		rand byte
		id   string
	}{
		{"124.31.75.21", 1, "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"},
		{"21.75.31.124", 86, "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"},
		{"65.23.51.170", 22, "a5d43220bc8f112a3d426c84764f8c2a1150e616"},
		{"84.124.73.14", 65, "1b0321dd1bb1fe518101ceef99462b947a01ff41"},
		{"43.213.53.83", 90, "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"},
	}
	for _, v := range vectors {
		ip := netip.MustParseAddr(v.ip)
		var want ID
		if _, err := hex.Decode(want[:], []byte(v.id)); err != nil {
			t.Fatal(err)
		}
		if !ValidSecureID(want, ip) {
			t.Errorf("%s: BEP 42 example ID %s not valid", v.ip, v.id)
		}
		// Generating with the example's random parts gives the example ID.
		got := SecureID(ip, [20]byte(want))
		if got != want {
			t.Errorf("%s: SecureID = %s, want %s", v.ip, got, want)
		}
		if want[19] != v.rand {
			t.Errorf("%s: last byte %d, want rand %d", v.ip, want[19], v.rand)
		}
		// Any other IP (almost surely) rejects it; flipping a prefix bit breaks it.
		bad := want
		bad[1] ^= 0x10
		if ValidSecureID(bad, ip) {
			t.Errorf("%s: corrupted ID accepted", v.ip)
		}
	}
	// Local addresses are exempt.
	if !ValidSecureID(ID{1, 2, 3}, netip.MustParseAddr("192.168.1.1")) || !ValidSecureID(ID{}, netip.MustParseAddr("127.0.0.5")) {
		t.Error("local address not exempt")
	}
	// IPv6 round trip.
	ip6 := netip.MustParseAddr("2001:db8:1234::5")
	r := [20]byte{19: 7}
	if id := SecureID(ip6, r); !ValidSecureID(id, ip6) || ValidSecureID(id, netip.MustParseAddr("2001:db9:1234::5")) {
		t.Error("IPv6 BEP 42 id")
	}
}

func randID(r *rand.Rand) ID {
	var id ID
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	return id
}

func addrN(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 6881)
}

func TestTableSplitAndClosest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1e9, 0)
	self := randID(r)
	tb := newTable(self, 8, now)
	var all []NodeInfo
	for i := range 5000 {
		ni := NodeInfo{ID: randID(r), Addr: addrN(i)}
		all = append(all, ni)
		tb.update(ni, now, true)
	}
	// Bucket invariants.
	total := 0
	for i, b := range tb.buckets {
		if len(b.nodes) > 8 {
			t.Fatalf("bucket %d holds %d nodes", i, len(b.nodes))
		}
		for _, e := range b.nodes {
			if tb.index(e.ID) != i {
				t.Fatalf("node in wrong bucket")
			}
		}
		total += len(b.nodes)
	}
	if total != tb.Len() || total != len(tb.byAddr) {
		t.Fatalf("count %d, Len %d, byAddr %d", total, tb.Len(), len(tb.byAddr))
	}
	if len(tb.buckets) < 8 {
		t.Fatalf("only %d buckets after 5000 inserts", len(tb.buckets))
	}
	// closest agrees with brute force over the table's nodes.
	in := tb.all()
	for range 200 {
		target := randID(r)
		got := tb.closest(target, 8)
		want := slices.Clone(in)
		slices.SortFunc(want, func(a, b NodeInfo) int {
			if target.Closer(a.ID, b.ID) {
				return -1
			}
			return 1
		})
		want = want[:8]
		if !slices.Equal(got, want) {
			t.Fatalf("closest(%s) = %v, want %v", target, got, want)
		}
	}
	// The last bucket (around self) holds self's nearest neighbours among all inserted.
	near := tb.closest(self, 8)
	slices.SortFunc(all, func(a, b NodeInfo) int {
		if self.Closer(a.ID, b.ID) {
			return -1
		}
		return 1
	})
	if near[0] != all[0] {
		t.Errorf("nearest to self %v, want %v", near[0], all[0])
	}
}

func TestTableLiveness(t *testing.T) {
	now := time.Unix(1e9, 0)
	self := ID{}
	tb := newTable(self, 2, now)
	// Fill bucket 0 (IDs starting with bit 1) past splitting: with k=2, bucket 0 is
	// not the last once split, so newcomers go to the replacement cache.
	a := NodeInfo{ID: ID{0x80}, Addr: addrN(1)}
	b := NodeInfo{ID: ID{0x81}, Addr: addrN(2)}
	c := NodeInfo{ID: ID{0x82}, Addr: addrN(3)}
	tb.update(a, now, true)
	tb.update(b, now, true)
	if p := tb.update(c, now, true); p != nil {
		t.Fatalf("ping %v while every node is good", p.Addr)
	}
	// Time passes; a and b become questionable; a newcomer triggers a ping of the stalest.
	later := now.Add(20 * time.Minute)
	tb.update(b, later.Add(-time.Minute), false) // b sent us a query recently
	d := NodeInfo{ID: ID{0x83}, Addr: addrN(4)}
	p := tb.update(d, later, true)
	if p == nil || p.Addr != a.Addr {
		t.Fatalf("want ping of stalest node a, got %v", p)
	}
	// a fails twice: it is replaced by the freshest replacement (d).
	tb.failed(a.Addr)
	if tb.lookup(a.Addr) == nil {
		t.Fatal("one failure removed the node")
	}
	tb.failed(a.Addr)
	if tb.lookup(a.Addr) != nil || tb.lookup(d.Addr) == nil {
		t.Fatal("bad node not replaced by replacement")
	}
	// An address claiming a new ID without answering us is ignored.
	tb.update(NodeInfo{ID: ID{0x90}, Addr: b.Addr}, later, false)
	if e := tb.lookup(b.Addr); e == nil || e.ID != b.ID {
		t.Fatal("unverified ID change accepted")
	}
	// Unverified nodes never enter.
	tb.update(NodeInfo{ID: ID{0x01}, Addr: addrN(9)}, later, false)
	if tb.lookup(addrN(9)) != nil {
		t.Fatal("node that only queried us entered the table")
	}
	// Self and port 0 are rejected.
	tb.update(NodeInfo{ID: self, Addr: addrN(10)}, later, true)
	tb.update(NodeInfo{ID: ID{0x02}, Addr: netip.AddrPortFrom(addrN(11).Addr(), 0)}, later, true)
	if tb.lookup(addrN(10)) != nil || tb.Len() != 2+0 && tb.lookup(netip.AddrPortFrom(addrN(11).Addr(), 0)) != nil {
		t.Fatal("self or port 0 accepted")
	}
}

func TestRandomIDInBucket(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	now := time.Unix(0, 0)
	tb := newTable(randID(r), 8, now)
	for i := range 3000 {
		tb.update(NodeInfo{ID: randID(r), Addr: addrN(i)}, now, true)
	}
	for i := range tb.buckets {
		for range 10 {
			if got := tb.index(tb.randomIDIn(i, [20]byte(randID(r)))); got != i {
				t.Fatalf("random id for bucket %d falls in %d", i, got)
			}
		}
	}
}

func TestTokens(t *testing.T) {
	now := time.Unix(1e9, 0)
	r := rand.New(rand.NewPCG(5, 6))
	fresh := func() [20]byte { return [20]byte(randID(r)) }
	var tk tokens
	tk.rotate(now, fresh)
	ip := netip.MustParseAddr("1.2.3.4")
	tok := tk.make(ip)
	if !tk.valid(tok, ip) {
		t.Fatal("fresh token invalid")
	}
	if tk.valid(tok, netip.MustParseAddr("1.2.3.5")) {
		t.Fatal("token valid for another IP")
	}
	if tk.valid(tok[:4], ip) || tk.valid(nil, ip) {
		t.Fatal("truncated token valid")
	}
	tk.rotate(now.Add(6*time.Minute), fresh)
	if !tk.valid(tok, ip) {
		t.Fatal("token invalid after one rotation")
	}
	tk.rotate(now.Add(12*time.Minute), fresh)
	if tk.valid(tok, ip) {
		t.Fatal("token valid after two rotations")
	}
	// IPv4-mapped and plain IPv4 are the same requester.
	if !tk.valid(tk.make(ip), netip.AddrFrom16(ip.As16())) {
		t.Fatal("mapped address gets another token")
	}
}

func TestPeerStoreBounds(t *testing.T) {
	now := time.Unix(1e9, 0)
	r := rand.New(rand.NewPCG(7, 8))
	s := newPeerStore(3, 4, 10, time.Minute)
	ih := func(i int) ID { return ID{byte(i)} }
	for i := range 6 {
		s.add(ih(0), addrN(i), now)
	}
	if got := len(s.get(ih(0), now, 100, r)); got != 4 {
		t.Fatalf("per-torrent bound: %d peers", got)
	}
	s.add(ih(1), addrN(100), now)
	s.add(ih(2), addrN(101), now)
	if s.add(ih(3), addrN(102), now) {
		t.Fatal("fourth torrent stored past maxTorrents")
	}
	for i := range 10 {
		s.add(ih(1), addrN(200+i), now)
		s.add(ih(2), addrN(300+i), now)
	}
	if s.total > 10 {
		t.Fatalf("total %d above bound", s.total)
	}
	if got := s.get(ih(0), now, 2, r); len(got) != 2 {
		t.Fatalf("max values not honoured: %d", len(got))
	}
	// Expiry frees everything.
	later := now.Add(2 * time.Minute)
	if got := s.get(ih(0), later, 10, r); len(got) != 0 {
		t.Fatalf("expired peers returned: %v", got)
	}
	s.expire(later)
	if s.total != 0 || len(s.swarms) != 0 {
		t.Fatalf("after expiry: total %d swarms %d", s.total, len(s.swarms))
	}
	if !s.add(ih(3), addrN(1), later) {
		t.Fatal("store full after expiry")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(10, 5, 4, 20, time.Minute)
	ip := netip.MustParseAddr("1.1.1.1")
	// Unverified queries (a spoofable source) are rate-limited but never banned.
	spoofed := netip.MustParseAddr("3.3.3.3")
	allowed := 0
	for range 1000 {
		ok, banned := l.allow(spoofed, now, false)
		if banned {
			t.Fatal("unverified queries earned a ban")
		}
		if ok {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("unverified burst: %d allowed, want 5", allowed)
	}
	if ok, _ := l.allow(spoofed, now.Add(100*time.Millisecond), false); !ok {
		t.Fatal("unverified source not answered after the refill")
	}
	allowed = 0
	for range 5 + 19 {
		if ok, _ := l.allow(ip, now, true); ok {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("burst: %d allowed, want 5", allowed)
	}
	if _, banned := l.allow(ip, now, true); !banned {
		t.Fatal("no ban after 20 verified drops in a row")
	}
	if ok, _ := l.allow(ip, now.Add(30*time.Second), false); ok {
		t.Fatal("banned IP answered")
	}
	if ok, _ := l.allow(ip, now.Add(61*time.Second), false); !ok {
		t.Fatal("ban never lifted")
	}
	// Refill: 10/s.
	other := netip.MustParseAddr("2.2.2.2")
	for range 5 {
		l.allow(other, now, false)
	}
	if ok, _ := l.allow(other, now.Add(100*time.Millisecond), false); !ok {
		t.Fatal("no refill after 100ms at 10/s")
	}
	// Table stays bounded under spoofed sources.
	for i := range 1000 {
		l.allow(addrN(i).Addr(), now, false)
	}
	if len(l.m) > 4 {
		t.Fatalf("limiter tracks %d IPs, bound 4", len(l.m))
	}
}

func TestTableOnePerIP(t *testing.T) {
	now := time.Unix(1e9, 0)
	tb := newTable(ID{}, 8, now)
	tb.onePerIP = true
	pub := netip.MustParseAddr("11.1.1.1")
	tb.update(NodeInfo{ID: ID{0x80}, Addr: netip.AddrPortFrom(pub, 1)}, now, true)
	tb.update(NodeInfo{ID: ID{0x81}, Addr: netip.AddrPortFrom(pub, 2)}, now, true)
	if tb.Len() != 1 || tb.accepts(ID{0x82}, netip.AddrPortFrom(pub, 3)) {
		t.Fatalf("two nodes of one public IP: %v", tb.all())
	}
	loop := netip.MustParseAddr("127.0.0.1")
	for i := range 5 {
		tb.update(NodeInfo{ID: ID{0x40, byte(i)}, Addr: netip.AddrPortFrom(loop, uint16(10+i))}, now, true)
	}
	if tb.Len() != 6 {
		t.Fatalf("loopback nodes not exempt: %d nodes", tb.Len())
	}
	// Once the node is gone, its IP may be used again.
	tb.drop(netip.AddrPortFrom(pub, 1))
	tb.update(NodeInfo{ID: ID{0x81}, Addr: netip.AddrPortFrom(pub, 2)}, now, true)
	if tb.lookup(netip.AddrPortFrom(pub, 2)) == nil || len(tb.ips) != 2 {
		t.Fatalf("IP not freed: %v %v", tb.all(), tb.ips)
	}
}
