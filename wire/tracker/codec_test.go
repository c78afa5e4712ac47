package tracker

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/testutil"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// libtorrent's HTTP announces decode as what libtorrent meant.
func TestVectorHTTPAnnounceRequests(t *testing.T) {
	ih := [20]byte(mustHex("74a323f732e746deac9e29e6e8428d78a68b92cd"))
	for _, tc := range []struct {
		name  string
		event Event
		down  int64
		up    int64
		want  int
	}{
		{"started", EventStarted, 0, 0, 200},
		{"completed", EventCompleted, 9380891, 0, 200},
		{"stopped", EventStopped, 0, 9380891, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := testutil.Vector(t, "tracker/libtorrent-2.0.8-http-announce-request-"+tc.name+".bin")
			line, _, _ := bytes.Cut(raw, []byte("\r\n"))
			target := strings.Fields(string(line))[1]
			_, q, _ := strings.Cut(target, "?")
			req, opt, err := ParseHTTPAnnounce(q)
			if err != nil {
				t.Fatal(err)
			}
			if req.InfoHash != ih || req.Event != tc.event || req.Downloaded != tc.down || req.Uploaded != tc.up ||
				req.NumWant != tc.want || req.Left != 0 || !strings.HasPrefix(string(req.PeerID[:]), "-LT2080-") {
				t.Errorf("got %+v", req)
			}
			if !opt.Compact || !opt.NoPeerID {
				t.Errorf("options %+v, want compact and no_peer_id", opt)
			}
			if req.Bid != 0 || req.Top != 0 || req.MinBid != 0 {
				t.Errorf("legacy request decoded Speed fields: %+v", req)
			}
		})
	}
}

func TestVectorUDPRequests(t *testing.T) {
	conn := testutil.Vector(t, "tracker/libtorrent-2.0.8-udp-connect-request.bin")
	if got := AppendUDPConnect(nil, 0xd307c7dc); !bytes.Equal(got, conn) {
		t.Errorf("connect request %x, libtorrent sent %x", got, conn)
	}
	raw := testutil.Vector(t, "tracker/libtorrent-2.0.8-udp-announce-request.bin")
	a, err := ParseUDPAnnounce(raw)
	if err != nil {
		t.Fatal(err)
	}
	r := a.Request
	if a.ConnID != 0xc767fc506a42ff1d || a.TransactionID != 0x8e845113 || a.URLData != "/announce" ||
		r.Event != EventStarted || r.NumWant != 200 || r.Port != 53501 || r.Key != 0x3e339023 ||
		hex.EncodeToString(r.InfoHash[:]) != "75267c6ed16a6fb937d3c0c6352a4e1104a9ff73" {
		t.Errorf("got %+v", a)
	}
	// Our encoder gives the same bytes for the same request.
	if got := AppendUDPAnnounce(nil, a.ConnID, a.TransactionID, a.URLData, r); !bytes.Equal(got, raw) {
		t.Errorf("re-encoded announce\n%x\nlibtorrent sent\n%x", got, raw)
	}
	sc := testutil.Vector(t, "tracker/libtorrent-2.0.8-udp-scrape-request.bin")
	id, tid, hashes, err := ParseUDPScrape(sc)
	if err != nil || id != 0xc767fc506a42ff1d || tid != 0x9a367f2f || len(hashes) != 1 || hashes[0] != r.InfoHash {
		t.Errorf("scrape: %x %x %x %v", id, tid, hashes, err)
	}
	if got := AppendUDPScrape(nil, id, tid, hashes); !bytes.Equal(got, sc) {
		t.Errorf("re-encoded scrape %x, want %x", got, sc)
	}
}

func TestVectorOpentrackerReplies(t *testing.T) {
	raw := testutil.Vector(t, "tracker/opentracker-http-announce-response.bin")
	_, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no HTTP body")
	}
	resp, err := DecodeHTTPAnnounce(body)
	if err != nil {
		t.Fatal(err)
	}
	want := AnnounceResponse{Interval: 1903 * time.Second, MinInterval: 951 * time.Second, Complete: 1,
		Peers: []Peer{{Addr: netip.MustParseAddrPort("127.0.0.1:53501")}}}
	if diff := cmp.Diff(want, resp, addrCmp); diff != "" {
		t.Errorf("HTTP reply (-want +got):\n%s", diff)
	}

	id, err := ParseUDPConnectReply(testutil.Vector(t, "tracker/opentracker-udp-connect-response.bin"), 0xd307c7dc)
	if err != nil || id != 0xc767fc506a42ff1d {
		t.Errorf("connect reply: %x %v", id, err)
	}
	if _, err := ParseUDPConnectReply(testutil.Vector(t, "tracker/opentracker-udp-connect-response.bin"), 1); !errors.Is(err, ErrMalformed) {
		t.Errorf("connect reply to another transaction: %v", err)
	}
	ur := testutil.Vector(t, "tracker/opentracker-udp-announce-response.bin")
	uresp, err := ParseUDPAnnounceReply(ur, 0x8e845113, false, false)
	if err != nil {
		t.Fatal(err)
	}
	uwant := AnnounceResponse{Interval: 1868 * time.Second, Complete: 1, Peers: want.Peers}
	if diff := cmp.Diff(uwant, uresp, addrCmp); diff != "" {
		t.Errorf("UDP reply (-want +got):\n%s", diff)
	}
	if got := AppendUDPAnnounceReply(nil, 0x8e845113, uresp, false, false); !bytes.Equal(got, ur) {
		t.Errorf("re-encoded UDP reply %x, want %x", got, ur)
	}
	sr := testutil.Vector(t, "tracker/opentracker-udp-scrape-response.bin")
	res, err := ParseUDPScrapeReply(sr, 0x9a367f2f, 1)
	if err != nil || res[0] != (ScrapeResult{Complete: 1}) {
		t.Errorf("scrape reply %+v %v", res, err)
	}
	if got := AppendUDPScrapeReply(nil, 0x9a367f2f, res); !bytes.Equal(got, sr) {
		t.Errorf("re-encoded scrape reply %x, want %x", got, sr)
	}
}

func TestHTTPReplyRoundTrip(t *testing.T) {
	v4 := netip.MustParseAddrPort("10.1.2.3:6881")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:51413")
	id := [20]byte([]byte("-BT0001-abcdefghijkl"))
	for _, tc := range []struct {
		name string
		resp AnnounceResponse
		opt  HTTPOptions
	}{
		{"compact", AnnounceResponse{Interval: time.Hour, Complete: 3, Incomplete: 4,
			Peers: []Peer{{Addr: v4}, {Addr: v6}}}, HTTPOptions{Compact: true}},
		{"compact-bids", AnnounceResponse{Interval: time.Hour, MinInterval: time.Minute, HasBids: true,
			Peers: []Peer{{Addr: v4, Bid: 9}, {Addr: v6, Bid: 1 << 62}}}, HTTPOptions{Compact: true}},
		{"dict", AnnounceResponse{Interval: time.Hour, Warning: "hi",
			Peers: []Peer{{Addr: v4, ID: id}, {Addr: v6, ID: id}}}, HTTPOptions{}},
		{"dict-bids", AnnounceResponse{Interval: time.Hour, HasBids: true,
			Peers: []Peer{{Addr: v6, ID: id, Bid: 7}, {Addr: v4, ID: id, Bid: 5}}}, HTTPOptions{}},
		{"empty", AnnounceResponse{Interval: time.Minute}, HTTPOptions{Compact: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodeHTTPAnnounce(tc.resp, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeHTTPAnnounce(b)
			if err != nil {
				t.Fatalf("%v\n%q", err, b)
			}
			want := tc.resp
			if want.Peers == nil {
				got.Peers = nil
			}
			if diff := cmp.Diff(want, got, addrCmp); diff != "" {
				t.Errorf("(-want +got):\n%s\n%q", diff, b)
			}
		})
	}
}

func TestDecodeHTTPMalformed(t *testing.T) {
	for _, tc := range []struct {
		body string
		want error
	}{
		{"", ErrMalformed},
		{"d8:intervali60e5:peers5:abcdee", ErrMalformed},                       // not a multiple of 6
		{"d8:intervali60e6:peers617:01234567890123456e", ErrMalformed},         // peers6 not a multiple of 18
		{"d4:bidsli1ei2ee8:intervali60e5:peers6:abcdefe", ErrMalformed},        // 2 bids for 1 peer
		{"d8:intervali-1e5:peers0:e", ErrMalformed},                            // negative interval
		{"d8:intervali60e5:peers0:etrailing", ErrMalformed},                    // trailing data
		{"d8:intervali60e5:peersli1eee", ErrMalformed},                         // list of non-dicts
		{"d14:failure reason9:not todaye", &FailureError{Reason: "not today"}}, // failure
		{"d8:intervali99999999999e5:peers0:e", ErrMalformed},
	} {
		_, err := DecodeHTTPAnnounce([]byte(tc.body))
		if fe, ok := tc.want.(*FailureError); ok {
			var got *FailureError
			if !errors.As(err, &got) || got.Reason != fe.Reason {
				t.Errorf("%q: %v, want failure %q", tc.body, err, fe.Reason)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: %v, want %v", tc.body, err, tc.want)
		}
	}
}

func TestParseHTTPAnnounceMalformed(t *testing.T) {
	ok := "info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1"
	if _, _, err := ParseHTTPAnnounce(ok); err != nil {
		t.Fatalf("base case: %v", err)
	}
	for _, q := range []string{
		"",
		"info_hash=short&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1",
		"info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=short&port=1",
		"info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb",
		ok + "x", // port=1x
		strings.Replace(ok, "port=1", "port=65536", 1),
		ok + "&left=-1",
		ok + "&event=paused",
		ok + "&bid=9223372036854775808", // above 2^63-1
		ok + "&top=x",
		ok + "&info_hash=cccccccccccccccccccc", // two hashes
		ok + "&%zz=1",
		ok + strings.Repeat("&a=1", 64),
	} {
		if _, _, err := ParseHTTPAnnounce(q); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.80q: %v, want ErrMalformed", q, err)
		}
	}
}

func TestHTTPQueryRoundTrip(t *testing.T) {
	req := AnnounceRequest{InfoHash: [20]byte{0, '&', '=', '%', 0xff}, PeerID: [20]byte([]byte("-BT0001-\x00\x01abcdefghij")),
		Port: 6881, Uploaded: 1, Downloaded: 2, Left: 3, Event: EventCompleted, NumWant: 30, Key: 0xdeadbeef,
		IP: netip.MustParseAddr("10.0.0.1"), Bid: 2_500_000, Top: 3, MinBid: 100}
	got, opt, err := ParseHTTPAnnounce(string(AppendHTTPQuery(nil, req)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(req, got, addrCmp); diff != "" || !opt.Compact {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Without Speed fields the query is a plain BEP 3 one.
	req.Bid, req.Top, req.MinBid = 0, 0, 0
	q := string(AppendHTTPQuery(nil, req))
	if strings.Contains(q, "bid") || strings.Contains(q, "top") {
		t.Errorf("legacy query carries Speed parameters: %s", q)
	}
}

func TestUDPAnnounceRoundTrip(t *testing.T) {
	req := AnnounceRequest{InfoHash: [20]byte{1}, PeerID: [20]byte{2}, Port: 1, Left: 5, Event: EventStopped, NumWant: 7,
		Bid: 42, Top: 3, MinBid: 10}
	// A long path is split over several BEP 41 options.
	path := "/announce/" + strings.Repeat("p", 300)
	a, err := ParseUDPAnnounce(AppendUDPAnnounce(nil, 9, 8, path, req))
	if err != nil {
		t.Fatal(err)
	}
	if a.ConnID != 9 || a.TransactionID != 8 || a.Request != req || a.URLData != path+"?bid=42&top=3&min_bid=10" {
		t.Errorf("got %+v", a)
	}
	for _, b := range [][]byte{
		make([]byte, 97),
		append(AppendUDPAnnounce(nil, 1, 1, "", req), 2, 10, 'x'), // option longer than packet
		append(AppendUDPAnnounce(nil, 1, 1, "", AnnounceRequest{}), 2, 6, '?', 'b', 'i', 'd', '=', 'x'),
	} {
		if _, err := ParseUDPAnnounce(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v, want ErrMalformed", b, err)
		}
	}
	resp := AnnounceResponse{Interval: time.Minute, Complete: 1, Incomplete: 2, HasBids: true,
		Peers: []Peer{{Addr: netip.MustParseAddrPort("[::1]:5"), Bid: 3}}}
	got, err := ParseUDPAnnounceReply(AppendUDPAnnounceReply(nil, 4, resp, true, true), 4, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(resp, got, addrCmp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := ParseUDPAnnounceReply(AppendUDPAnnounceReply(nil, 4, resp, true, true), 4, true, false); !errors.Is(err, ErrMalformed) {
		t.Errorf("reply with bids accepted by a client that did not ask: %v", err)
	}
	// A tracker without the extension answers a top request with plain peers.
	plain, err := ParseUDPAnnounceReply(AppendUDPAnnounceReply(nil, 4, resp, true, false), 4, true, true)
	if err != nil || plain.HasBids || len(plain.Peers) != 1 || plain.Peers[0].Bid != 0 {
		t.Errorf("plain reply to a top request: %+v %v", plain, err)
	}
	var fe *FailureError
	if _, err := ParseUDPAnnounceReply(AppendUDPError(nil, 4, "go away"), 4, false, false); !errors.As(err, &fe) || fe.Reason != "go away" {
		t.Errorf("error reply: %v", err)
	}
}

// addrCmp compares netip values by ==, which go-cmp cannot do by itself.
var addrCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

// The scrape and bid-scrape queries a client builds parse back on the
// tracker's side to what was asked.
func TestScrapeQueryRoundTrip(t *testing.T) {
	hashes := [][20]byte{{0x12, '&', '=', '%'}, {0xff, ' '}}
	q, got, err := ParseQuery(string(AppendHTTPScrapeQuery(nil, hashes)), 8)
	if err != nil || !cmp.Equal(got, hashes) {
		t.Errorf("scrape query: %x, %v; want %x", got, err, hashes)
	}
	if _, _, ok, _ := ParseBidScrapeQuery(q); ok {
		t.Error("a plain scrape parsed as a bid-scrape")
	}
	for _, tc := range []struct {
		raw           string
		offset, limit int
		bad           bool
	}{
		{string(AppendBidScrapeQuery(nil, 7, 20)), 7, 20, false},
		{string(AppendBidScrapeQuery(nil, -3, 0)), 0, 1, false}, // clamped when built
		{"bid_scrape=1", 0, DefaultBidScrapeLimit, false},
		{"bid_scrape=1&offset=-1", 0, 0, true},
		{"bid_scrape=1&limit=0", 0, 0, true},
		{"bid_scrape=1&limit=x", 0, 0, true},
	} {
		q, _, err := ParseQuery(tc.raw, 8)
		if err != nil {
			t.Fatal(err)
		}
		off, lim, ok, err := ParseBidScrapeQuery(q)
		if !ok || (err != nil) != tc.bad || (!tc.bad && (off != tc.offset || lim != tc.limit)) {
			t.Errorf("%q: offset %d limit %d ok %v err %v; want %d %d bad %v", tc.raw, off, lim, ok, err, tc.offset, tc.limit, tc.bad)
		}
		if tc.bad && !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: error %v does not wrap ErrMalformed", tc.raw, err)
		}
	}
}
