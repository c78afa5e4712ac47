package fuzz

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/peer/tracker/server"
	"github.com/speedbt/btt/wire/tracker"
)

var trackerCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

func trackerVector(f *testing.F, name string) []byte {
	return testutil.Vector(f, "tracker/"+name)
}

// httpBody returns the body of a captured HTTP message.
func httpBody(b []byte) []byte {
	_, body, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	return body
}

// FuzzTrackerHTTPReply: an HTTP announce reply decodes without panicking, and
// what decodes encodes (in both peer-list forms) to bytes that decode and
// re-encode identically.
func FuzzTrackerHTTPReply(f *testing.F) {
	f.Add(httpBody(trackerVector(f, "opentracker-http-announce-response.bin")))
	for _, s := range []string{
		"d8:completei1e10:incompletei2e8:intervali1800e12:min intervali900e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x1a\xe26:peers618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e",
		"d4:bidsli5ei3ee8:completei0e10:incompletei2e8:intervali60e5:peers12:abcdefghijkle",
		"d8:intervali60e5:peersld3:bidi9e2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti1eed2:ip3:::14:porti2eeee",
		"d14:failure reason4:nopee",
		"d8:intervali60e5:peers0:15:warning message2:hie",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := tracker.DecodeHTTPAnnounce(in)
		if err != nil {
			return
		}
		for _, opt := range []tracker.HTTPOptions{{Compact: true}, {}} {
			b1, err := tracker.EncodeHTTPAnnounce(r, opt)
			if err != nil {
				t.Fatalf("encode %+v: %v", r, err)
			}
			r2, err := tracker.DecodeHTTPAnnounce(b1)
			if err != nil {
				t.Fatalf("re-decode %q: %v", b1, err)
			}
			if len(r2.Peers) != len(r.Peers) || r2.Complete != r.Complete || r2.Interval != r.Interval || r2.Warning != r.Warning {
				t.Fatalf("round trip changed the reply:\n%+v\n%+v", r, r2)
			}
			b2, _ := tracker.EncodeHTTPAnnounce(r2, opt)
			if !bytes.Equal(b1, b2) {
				t.Fatalf("encoding not stable:\n%q\n%q", b1, b2)
			}
		}
	})
}

// FuzzTrackerHTTPAnnounceQuery: the server's parse of an announce query never
// panics; a parsed request re-encodes to a query that parses to it again.
func FuzzTrackerHTTPAnnounceQuery(f *testing.F) {
	for _, n := range []string{"started", "completed", "stopped"} {
		line, _, _ := bytes.Cut(trackerVector(f, "libtorrent-2.0.8-http-announce-request-"+n+".bin"), []byte(" HTTP/1.1"))
		_, q, _ := bytes.Cut(line, []byte("?"))
		f.Add(string(q))
	}
	f.Add("info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1&bid=5&top=3&min_bid=2&ip=::1")
	f.Fuzz(func(t *testing.T, q string) {
		req, _, err := tracker.ParseHTTPAnnounce(q)
		if err != nil {
			return
		}
		got, opt, err := tracker.ParseHTTPAnnounce(string(tracker.AppendHTTPQuery(nil, req)))
		if err != nil {
			t.Fatalf("re-parse of %+v: %v", req, err)
		}
		if diff := cmp.Diff(req, got, trackerCmp); diff != "" || !opt.Compact {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

// FuzzTrackerUDPAnnounce: UDP announce requests (with BEP 41 options and
// Speed parameters) parse without panicking and round-trip.
func FuzzTrackerUDPAnnounce(f *testing.F) {
	f.Add(trackerVector(f, "libtorrent-2.0.8-udp-announce-request.bin"))
	f.Add(tracker.AppendUDPAnnounce(nil, 1, 2, "/announce", tracker.AnnounceRequest{Port: 1, Bid: 7, Top: 3, MinBid: 2}))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := tracker.ParseUDPAnnounce(in)
		if err != nil {
			return
		}
		path, _, _ := bytes.Cut([]byte(a.URLData), []byte("?"))
		b1 := tracker.AppendUDPAnnounce(nil, a.ConnID, a.TransactionID, string(path), a.Request)
		a2, err := tracker.ParseUDPAnnounce(b1)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if diff := cmp.Diff(a.Request, a2.Request, trackerCmp); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
		if b2 := tracker.AppendUDPAnnounce(nil, a2.ConnID, a2.TransactionID, string(path), a2.Request); !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable:\n%x\n%x", b1, b2)
		}
	})
}

// FuzzTrackerUDPReply: UDP replies (connect, announce with and without bids,
// IPv4 and IPv6, scrape, error) parse without panicking and round-trip.
func FuzzTrackerUDPReply(f *testing.F) {
	for _, n := range []string{"announce", "connect", "scrape"} {
		f.Add(trackerVector(f, "opentracker-udp-"+n+"-response.bin"), uint8(0))
	}
	f.Add(tracker.AppendUDPError(nil, 5, "bad"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		if len(in) < 8 {
			return
		}
		tid := binary.BigEndian.Uint32(in[4:])
		ipv6, bids := mode&1 != 0, mode&2 != 0
		if r, err := tracker.ParseUDPAnnounceReply(in, tid, ipv6, bids); err == nil {
			b := tracker.AppendUDPAnnounceReply(nil, tid, r, ipv6, r.HasBids)
			r2, err := tracker.ParseUDPAnnounceReply(b, tid, ipv6, bids)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(r, r2, trackerCmp); diff != "" {
				t.Fatalf("announce reply round trip (-want +got):\n%s", diff)
			}
		}
		if n := (len(in) - 8) / 12; n <= tracker.MaxUDPScrape {
			if r, err := tracker.ParseUDPScrapeReply(in, tid, n); err == nil {
				r2, err := tracker.ParseUDPScrapeReply(tracker.AppendUDPScrapeReply(nil, tid, r), tid, n)
				if err != nil || !cmp.Equal(r, r2) {
					t.Fatalf("scrape reply round trip: %v %v %v", r, r2, err)
				}
			}
		}
		tracker.ParseUDPConnectReply(in, tid)
	})
}

// FuzzTrackerScrapeReplies: HTTP scrape and bid-scrape replies decode without
// panicking and round-trip.
func FuzzTrackerScrapeReplies(f *testing.F) {
	f.Add([]byte("d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei1e10:downloadedi2e10:incompletei3eeee"))
	f.Add(tracker.EncodeBidScrape(tracker.BidScrapePage{Entries: []tracker.BidScrapeEntry{{InfoHash: [20]byte{1}, High: 9, Count: 2}}, Next: 7}))
	f.Fuzz(func(t *testing.T, in []byte) {
		if files, err := tracker.DecodeHTTPScrape(in); err == nil {
			files2, err := tracker.DecodeHTTPScrape(tracker.EncodeHTTPScrape(files))
			if err != nil || !cmp.Equal(files, files2) {
				t.Fatalf("scrape round trip: %v %v %v", files, files2, err)
			}
		}
		if p, err := tracker.DecodeBidScrape(in); err == nil {
			p2, err := tracker.DecodeBidScrape(tracker.EncodeBidScrape(p))
			if err != nil || !cmp.Equal(p, p2) {
				t.Fatalf("bid-scrape round trip: %+v %+v %v", p, p2, err)
			}
		}
	})
}

// FuzzTrackerServerUDP: whatever datagrams arrive, the UDP tracker never
// panics, answers within one datagram, and stays within its bounds.
func FuzzTrackerServerUDP(f *testing.F) {
	for _, n := range []string{"connect", "announce", "scrape"} {
		f.Add(trackerVector(f, "libtorrent-2.0.8-udp-"+n+"-request.bin"))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tr := server.New(server.Config{MaxTorrents: 2, MaxPeersPerTorrent: 2, RatePerSecond: -1})
		us := server.NewUDPServer(tr)
		now := time.Unix(1_700_000_000, 0)
		us.Now = func() time.Time { return now }
		from := netip.MustParseAddrPort("127.0.0.1:4000")
		// Give the packet a valid connection id when it is long enough, so the
		// fuzzer reaches the announce and scrape paths.
		c := us.Handle(tracker.AppendUDPConnect(nil, 1), from, nil)
		if len(in) >= 16 && binary.BigEndian.Uint32(in[8:]) != tracker.ActionConnect && len(c) == 16 {
			in = append(append([]byte(nil), c[8:16]...), in[8:]...)
		}
		if r := us.Handle(in, from, nil); len(r) > 1500 {
			t.Fatalf("reply of %d bytes", len(r))
		}
		if st := tr.Stats(); st.Torrents > 2 || st.Peers > 4 {
			t.Fatalf("bounds exceeded: %v", st)
		}
	})
}
