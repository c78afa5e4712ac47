package server

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/speedbt/btt/wire/tracker"
)

// BenchmarkUDPHandle is the CPU cost of one UDP announce in a swarm of 1,000
// peers, without sockets: parse, connection-id check, tracker update, reply.
func BenchmarkUDPHandle(b *testing.B) {
	tr := New(Config{RatePerSecond: -1})
	us := NewUDPServer(tr)
	now := time.Now()
	us.Now = func() time.Time { return now }
	from := netip.MustParseAddrPort("127.0.0.1:5000")
	id := us.ids.current(from, now)
	pkts := make([][]byte, 1000)
	for i := range pkts {
		r := tracker.AnnounceRequest{InfoHash: [20]byte{1}, Port: uint16(1000 + i), Left: int64(i % 2), NumWant: 50}
		binary.BigEndian.PutUint32(r.PeerID[:], uint32(i))
		pkts[i] = tracker.AppendUDPAnnounce(nil, id, uint32(i), "/announce", r)
		us.Handle(pkts[i], from, nil)
	}
	out := make([]byte, 0, 2048)
	var peers []tracker.Peer
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		var r []byte
		if r, peers = us.handle(pkts[i%len(pkts)], from, out[:0], peers); len(r) < 20+6*50 {
			b.Fatalf("reply of %d bytes", len(r))
		}
	}
}

// BenchmarkHTTPAnnounceCore is the tracker's share of an HTTP announce:
// parse the query, update, encode the compact reply.
func BenchmarkHTTPAnnounceCore(b *testing.B) {
	tr := New(Config{RatePerSecond: -1})
	now := time.Now()
	qs := make([]string, 1000)
	for i := range qs {
		r := tracker.AnnounceRequest{InfoHash: [20]byte{1}, Port: uint16(1000 + i), Left: int64(i % 2), NumWant: 50}
		binary.BigEndian.PutUint32(r.PeerID[:], uint32(i))
		qs[i] = string(tracker.AppendHTTPQuery(nil, r))
		tr.Announce(now, lo, r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req, opt, err := tracker.ParseHTTPAnnounce(qs[i%len(qs)])
		if err != nil {
			b.Fatal(err)
		}
		resp, err := tr.Announce(now, lo, req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tracker.EncodeHTTPAnnounce(resp, opt); err != nil {
			b.Fatal(err)
		}
	}
}
