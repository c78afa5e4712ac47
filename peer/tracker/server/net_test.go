package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speedbt/btt/peer/tracker"
	"github.com/speedbt/btt/peer/tracker/server"
	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// startServers runs tr over HTTP and UDP on loopback and returns their
// announce URLs.
func startServers(t *testing.T, tr *server.Tracker, clock ...func() time.Time) (httpURL, udpURL string, us *server.UDPServer) {
	t.Helper()
	hs := httptest.NewServer(&server.HTTPHandler{Tracker: tr})
	t.Cleanup(hs.Close)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	us = server.NewUDPServer(tr)
	if len(clock) > 0 {
		us.Now = clock[0]
	}
	done := make(chan error, 1)
	go func() { done <- us.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("UDP server: %v", err)
		}
	})
	return hs.URL + "/announce", "udp://" + conn.LocalAddr().String() + "/announce", us
}

func req(ih [20]byte, port uint16, bid uint64) wiretracker.AnnounceRequest {
	r := wiretracker.AnnounceRequest{InfoHash: ih, Port: port, Left: 1, Bid: bid}
	copy(r.PeerID[:], fmt.Sprintf("-BT0001-%012d", port))
	return r
}

func bidList(ps []wiretracker.Peer) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%d/%d ", p.Addr.Port(), p.Bid)
	}
	return b.String()
}

// The bid-announce proof over both transports with our client: 10 clients
// announce different bids; top 3 with a floor; bid-scrape in order; a legacy
// announce gets an ordinary answer.
func TestBidAnnounceOverNetwork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := server.New(server.Config{Interval: time.Minute})
	httpURL, udpURL, _ := startServers(t, tr)
	c := &tracker.Client{UDPTimeout: 200 * time.Millisecond, UDPRetries: 3}
	for _, tc := range []struct {
		name string
		url  string
		ih   [20]byte
	}{{"http", httpURL, [20]byte{1}}, {"udp", udpURL, [20]byte{2}}} {
		t.Run(tc.name, func(t *testing.T) {
			bids := []uint64{500, 0, 900, 50, 700, 300, 0, 1000, 800, 100}
			for i, b := range bids {
				if _, err := c.Announce(ctx, tc.url, req(tc.ih, uint16(1000+i), b)); err != nil {
					t.Fatal(err)
				}
			}
			r := req(tc.ih, 2000, 0)
			r.Top, r.MinBid = 3, 600
			resp, err := c.Announce(ctx, tc.url, r)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := bidList(resp.Peers), "1007/1000 1002/900 1008/800 "; got != want || !resp.HasBids {
				t.Errorf("top 3 over 600: %q, want %q", got, want)
			}
			legacy, err := c.Announce(ctx, tc.url, req(tc.ih, 2001, 0))
			if err != nil {
				t.Fatal(err)
			}
			if legacy.HasBids || len(legacy.Peers) != 11 || legacy.Incomplete != 12 {
				t.Errorf("legacy: %d peers (%s), %d leechers, bids %v", len(legacy.Peers), bidList(legacy.Peers), legacy.Incomplete, legacy.HasBids)
			}
		})
	}
	var all []wiretracker.BidScrapeEntry
	for off := 0; ; {
		p, err := c.BidScrape(ctx, httpURL, off, 1)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Entries...)
		if p.Next == 0 {
			break
		}
		off = p.Next
	}
	if len(all) != 2 || all[0].High != 1000 || all[0].Count != 8 || all[1].Count != 8 {
		t.Errorf("bid-scrape: %+v", all)
	}
	res, err := c.Scrape(ctx, udpURL, [][20]byte{{1}, {2}, {3}})
	if err != nil || res[[20]byte{1}].Incomplete != 12 || res[[20]byte{3}] != (wiretracker.ScrapeResult{}) {
		t.Errorf("UDP scrape: %+v %v", res, err)
	}
	hres, err := c.Scrape(ctx, httpURL, [][20]byte{{2}})
	if err != nil || hres[[20]byte{2}].Incomplete != 12 {
		t.Errorf("HTTP scrape: %+v %v", hres, err)
	}
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

func TestHTTPBadInput(t *testing.T) {
	tr := server.New(server.Config{})
	httpURL, _, _ := startServers(t, tr)
	base := strings.TrimSuffix(httpURL, "/announce")
	good := "info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1"
	for _, q := range []string{
		"/announce",
		"/announce?info_hash=short&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1",
		"/announce?" + good + "&left=x",
		"/announce?" + good + "&bid=-1",
		"/announce?" + good + "&top=99999999999",
		"/announce?" + strings.Repeat("a=1&", 3000),
		"/scrape",
		"/scrape?info_hash=xx",
		"/scrape?bid_scrape=1&offset=-3",
		"/elsewhere",
	} {
		code, body := httpGet(t, base+q)
		if code == 200 || !strings.HasPrefix(body, "d14:failure reason") {
			t.Errorf("%.60s: HTTP %d %q, want an error status with a failure reason", q, code, body)
		}
	}
	if st := tr.Stats(); st.Torrents != 0 {
		t.Errorf("bad requests stored something: %v", st)
	}
	if code, body := httpGet(t, base+"/announce?"+good); code != 200 || !strings.Contains(body, "8:interval") {
		t.Errorf("good request: %d %q", code, body)
	}
}

// A flood from one address is refused once its burst is spent, and costs
// no memory.
func TestFlood(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := server.New(server.Config{RatePerSecond: 1, RateBurst: 20})
	httpURL, udpURL, _ := startServers(t, tr)
	var refused int
	for i := 0; i < 100; i++ {
		_, err := tracker.Announce(ctx, httpURL, req([20]byte{byte(i)}, 1, 0))
		var fe *wiretracker.FailureError
		if errors.As(err, &fe) && strings.Contains(fe.Reason, "too many") {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused < 75 {
		t.Errorf("HTTP flood: %d of 100 refused", refused)
	}
	if st := tr.Stats(); st.Torrents > 25 {
		t.Errorf("HTTP flood stored %v", st)
	}
	// Over UDP the flood is dropped silently: the client times out.
	c := &tracker.Client{UDPTimeout: 50 * time.Millisecond, UDPRetries: 1}
	if _, err := c.Announce(ctx, udpURL, req([20]byte{200}, 1, 0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("UDP after the budget is spent: %v, want a timeout", err)
	}
}

func TestUDPBadInput(t *testing.T) {
	tr := server.New(server.Config{RatePerSecond: -1})
	var skew atomic.Int64
	_, udpURL, us := startServers(t, tr, func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	addr := strings.TrimSuffix(strings.TrimPrefix(udpURL, "udp://"), "/announce")
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exchange := func(p []byte) []byte {
		t.Helper()
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			return nil
		}
		return buf[:n]
	}
	// A good connect first.
	r := exchange(wiretracker.AppendUDPConnect(nil, 7))
	id, err := wiretracker.ParseUDPConnectReply(r, 7)
	if err != nil {
		t.Fatal(err)
	}
	ann := wiretracker.AppendUDPAnnounce(nil, id, 8, "/announce", req([20]byte{9}, 5, 0))
	if _, err := wiretracker.ParseUDPAnnounceReply(exchange(ann), 8, false, false); err != nil {
		t.Fatalf("good announce: %v", err)
	}
	wrongID := wiretracker.AppendUDPAnnounce(nil, id^1, 9, "/announce", req([20]byte{9}, 6, 0))
	badOpt := append(wiretracker.AppendUDPAnnounce(nil, id, 10, "", req([20]byte{9}, 7, 0)), 2, 200, 'x')
	badBid := wiretracker.AppendUDPAnnounce(nil, id, 11, "/announce?bid=x", req([20]byte{9}, 8, 0))
	for name, p := range map[string][]byte{"wrong connection id": wrongID, "truncated option": badOpt, "bad bid": badBid} {
		var fe *wiretracker.FailureError
		tid := binary.BigEndian.Uint32(p[12:])
		if _, err := wiretracker.ParseUDPAnnounceReply(exchange(p), tid, false, false); !errors.As(err, &fe) {
			t.Errorf("%s: %v, want an error reply", name, err)
		}
	}
	// Dropped without a reply: oversized, too short, unknown action, bad protocol id.
	badConnect := wiretracker.AppendUDPConnect(nil, 1)
	badConnect[0] ^= 1
	for name, p := range map[string][]byte{
		"oversized":      append(bytes.Clone(ann), make([]byte, 3000)...),
		"short":          ann[:15],
		"unknown action": append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, id), 9), 0, 0, 0, 1),
		"bad protocol":   badConnect,
	} {
		if got := exchange(p); got != nil {
			t.Errorf("%s: got reply %x, want none", name, got)
		}
	}
	if st := tr.Stats(); st.Torrents != 1 || st.Peers != 1 {
		t.Errorf("bad packets changed the tracker: %v", st)
	}
	// A short packet with a wrong connection id gets no (larger) error reply.
	if got := exchange(wrongID[:20]); got != nil {
		t.Errorf("short packet with a wrong id: reply %x", got)
	}
	// Connection ids last two minutes at most and are bound to the address.
	skew.Store(int64(3 * time.Minute))
	if _, err := wiretracker.ParseUDPAnnounceReply(exchange(ann), 8, false, false); err == nil {
		t.Error("a 3-minute-old connection id was accepted")
	}
	skew.Store(0)
	other := netip.MustParseAddrPort("127.0.0.9:1")
	if r := us.Handle(ann, other, nil); !bytes.Contains(r, []byte("connection id")) {
		t.Errorf("connection id from another address: %q", r)
	}
}

// The client reconnects when a tracker forgets its connection id, and
// retransmits on the BEP 15 schedule when packets are lost.
func TestClientUDPRetries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := server.New(server.Config{RatePerSecond: -1})
	var us atomic.Pointer[server.UDPServer]
	us.Store(server.NewUDPServer(tr))
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var seen, dropped atomic.Int32
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if seen.Add(1)%2 == 1 { // lose every other packet
				dropped.Add(1)
				continue
			}
			if r := us.Load().Handle(buf[:n], from, nil); r != nil {
				conn.WriteToUDPAddrPort(r, from)
			}
		}
	}()
	c := &tracker.Client{UDPTimeout: 30 * time.Millisecond, UDPRetries: 4}
	u := "udp://" + conn.LocalAddr().String() + "/announce"
	if _, err := c.Announce(ctx, u, req([20]byte{1}, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if dropped.Load() != 2 || seen.Load() != 4 {
		t.Errorf("%d packets seen, %d dropped; want a retransmission of the connect and of the announce", seen.Load(), dropped.Load())
	}
	// A tracker restart (new key) invalidates the cached id: one error, one
	// reconnect.
	us.Store(server.NewUDPServer(tr))
	resp, err := c.Announce(ctx, u, req([20]byte{1}, 2, 0))
	if err != nil || len(resp.Peers) != 1 {
		t.Errorf("after the tracker forgot our id: %+v %v", resp, err)
	}
	// A dead tracker: the schedule ends with a timeout, bounded.
	dead, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer dead.Close()
	start := time.Now()
	_, err = c.Announce(ctx, "udp://"+dead.LocalAddr().String(), req([20]byte{1}, 3, 0))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("dead tracker: %v", err)
	}
	// 30+60+120+240+480 ms
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("gave up after %v, before the retry schedule (930 ms)", el)
	}
}

// BEP 12: a dead first tier falls back to the next; within a tier the one
// that answered moves to the front; the interval is honoured.
func TestAnnouncerTiers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := server.New(server.Config{Interval: 10 * time.Minute, RatePerSecond: -1})
	httpURL, udpURL, _ := startServers(t, tr)
	dead := "http://127.0.0.1:1/announce"
	a := tracker.NewAnnouncer(&tracker.Client{UDPTimeout: 50 * time.Millisecond, UDPRetries: 1},
		[][]string{{dead}, {dead + "?x", udpURL, httpURL}}, nil)
	a.PerTracker = 2 * time.Second
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	resp, used, err := a.Announce(ctx, now, req([20]byte{5}, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if used != udpURL && used != httpURL {
		t.Errorf("answered by %q", used)
	}
	if tiers := a.Tiers(); tiers[1][0] != used || len(tiers[1]) != 3 {
		t.Errorf("tiers after success: %v", tiers)
	}
	if !a.Next().Equal(now.Add(10*time.Minute)) || a.MayAnnounce(now.Add(4*time.Minute)) || !a.MayAnnounce(now.Add(5*time.Minute)) {
		t.Errorf("next %v; min interval not honoured", a.Next())
	}
	if resp.Incomplete != 1 {
		t.Errorf("resp %+v", resp)
	}
	// Stopped goes to the tracker that knows us, and removes us.
	r := req([20]byte{5}, 1, 0)
	r.Event = wiretracker.EventStopped
	if _, u2, err := a.Announce(ctx, now, r); err != nil || u2 != used {
		t.Errorf("stopped: %q %v", u2, err)
	}
	if st := tr.Stats(); st.Peers != 0 {
		t.Errorf("after stopped: %v", st)
	}
	// All dead: an error, retry after 15 s, then 30 s.
	b := tracker.NewAnnouncer(nil, [][]string{{dead}}, nil)
	for i, want := range []time.Duration{15 * time.Second, 30 * time.Second} {
		if _, _, err := b.Announce(ctx, now, req([20]byte{5}, 1, 0)); err == nil {
			t.Fatal("dead tracker answered")
		}
		if got := b.Next().Sub(now); got != want {
			t.Errorf("failure %d: retry after %v, want %v", i+1, got, want)
		}
	}
	if _, _, err := tracker.NewAnnouncer(nil, nil, nil).Announce(ctx, now, req([20]byte{5}, 1, 0)); !errors.Is(err, tracker.ErrNoTrackers) {
		t.Errorf("empty list: %v", err)
	}
}

// The client and the tracker work over IPv6 loopback: UDP replies carry
// 18-byte peers, HTTP replies peers6.
func TestIPv6Loopback(t *testing.T) {
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		conn.Close()
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := server.New(server.Config{})
	go server.NewUDPServer(tr).Serve(ctx, conn)
	hs := &http.Server{Handler: &server.HTTPHandler{Tracker: tr}}
	go hs.Serve(ln)
	defer hs.Close()
	udpURL := "udp://" + conn.LocalAddr().String() + "/announce"
	httpURL := "http://" + ln.Addr().String() + "/announce"
	c := &tracker.Client{UDPTimeout: 200 * time.Millisecond, UDPRetries: 2}
	if _, err := c.Announce(ctx, udpURL, req([20]byte{6}, 1, 0)); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Announce(ctx, httpURL, req([20]byte{6}, 2, 0))
	if err != nil || len(resp.Peers) != 1 || resp.Peers[0].Addr != netip.MustParseAddrPort("[::1]:1") {
		t.Errorf("HTTP over IPv6: %+v %v", resp, err)
	}
	resp, err = c.Announce(ctx, udpURL, req([20]byte{6}, 3, 0))
	if err != nil || len(resp.Peers) != 2 {
		t.Errorf("UDP over IPv6: %+v %v", resp, err)
	}
}
