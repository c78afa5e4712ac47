package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/peer/tracker"
	"github.com/speedbt/btt/wire/metainfo"
	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// trackerTorrent writes a small single-file payload and makes a v1 torrent of
// it with libtorrent, with no tracker in it (each test adds its own).
func trackerTorrent(t *testing.T) (root, torPath string, ih [20]byte) {
	t.Helper()
	root = thirdparty.WriteFiles(t, t.TempDir(), []thirdparty.File{{Path: "payload.bin", Size: 600_000}})
	tor := thirdparty.LibtorrentCreateTorrent(t, filepath.Join(root, "payload.bin"), 64<<10, true, nil)
	return root, thirdparty.WriteTorrent(t, tor), thirdparty.InfoHash(t, tor)
}

// startBttTracker runs cmd/btt-tracker on 127.0.0.1 (HTTP and UDP) and returns
// its announce URLs as it prints them.
func startBttTracker(t testing.TB, args ...string) (httpURL, udpURL string) {
	t.Helper()
	bin := testutil.BuildCmd(t, "btt-tracker")
	httpAddr := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
	udpAddr := testutil.Addr("127.0.0.1", testutil.FreeUDPPort(t, "127.0.0.1"))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"--http", httpAddr, "--udp", udpAddr}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("btt-tracker stderr:\n%s", stderr.String())
		}
	})
	lines := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(10 * time.Second)
	for httpURL == "" || udpURL == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("btt-tracker exited: %s", stderr.String())
			}
			if strings.HasPrefix(l, "http://") {
				httpURL = l
			} else if strings.HasPrefix(l, "udp://") {
				udpURL = l
			}
		case <-timeout:
			t.Fatal("btt-tracker did not print its URLs")
		}
	}
	return httpURL, udpURL
}

func hasPort(ps []wiretracker.Peer, port int) bool {
	for _, p := range ps {
		if int(p.Addr.Port()) == port {
			return true
		}
	}
	return false
}

// announceUntil announces as a leecher until the reply lists a peer on port
// (trackers only know peers that announced before), bounded by ctx.
func announceUntil(t *testing.T, ctx context.Context, c *tracker.Client, url string, ih [20]byte, myPort uint16, port int) wiretracker.AnnounceResponse {
	t.Helper()
	req := wiretracker.AnnounceRequest{InfoHash: ih, Port: myPort, Left: 1, Event: wiretracker.EventStarted, NumWant: 50}
	copy(req.PeerID[:], "-BT0001-conformance!")
	for {
		resp, err := c.Announce(ctx, url, req)
		if err == nil && hasPort(resp.Peers, port) {
			return resp
		}
		select {
		case <-ctx.Done():
			t.Fatalf("announce to %s: no peer on port %d (last: %+v, %v)", url, port, resp, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Our client announces to opentracker over HTTP and UDP and is told the
// address of a libtorrent seeder that announced there; our scrapes agree.
func TestTrackerClientOpentracker(t *testing.T) {
	testutil.NeedLibtorrent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root, torPath, ih := trackerTorrent(t)
	httpURL, udpURL := thirdparty.StartOpentracker(t, testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")),
		testutil.FreeUDPPort(t, "127.0.0.1"), [][20]byte{ih})
	seed := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{Listen: testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: torPath, SavePath: root, Seed: true, TCP: true, Trackers: []string{httpURL}})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	if err := seed.WaitAnnounced(ctx); err != nil {
		t.Fatal(err)
	}
	c := &tracker.Client{UDPTimeout: time.Second, UDPRetries: 3}
	for _, u := range []string{httpURL, udpURL} {
		resp := announceUntil(t, ctx, c, u, ih, 40001, seed.Port())
		want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(seed.Port()))
		found := false
		for _, p := range resp.Peers {
			found = found || p.Addr == want
		}
		// opentracker also lists the announcing peer itself.
		if !found || resp.Complete != 1 || resp.Interval <= 0 {
			t.Errorf("%s: %+v, want the seeder at %v", u, resp, want)
		}
		res, err := c.Scrape(ctx, u, [][20]byte{ih})
		if err != nil || res[ih].Complete != 1 {
			t.Errorf("scrape %s: %+v %v", u, res, err)
		}
		t.Logf("%s: %d peers, interval %v, min interval %v", u, len(resp.Peers), resp.Interval, resp.MinInterval)
	}
	// A BEP 12 list whose first tier is dead falls back to opentracker.
	a := tracker.NewAnnouncer(c, [][]string{{"udp://127.0.0.1:1/announce"}, {udpURL}}, nil)
	a.PerTracker = 3 * time.Second
	req := wiretracker.AnnounceRequest{InfoHash: ih, Port: 40002, Left: 1}
	if _, used, err := a.Announce(ctx, time.Now(), req); err != nil || used != udpURL {
		t.Errorf("tier fallback: %q %v", used, err)
	}
	// Stopped removes us: opentracker then counts only the seeder and us on 40001.
	req.Event = wiretracker.EventStopped
	if _, err := c.Announce(ctx, httpURL, req); err != nil {
		t.Error(err)
	}
}

// libtorrent and Transmission announce to our tracker over HTTP and UDP and
// the tracker lists them; a libtorrent leecher finds a
// libtorrent seeder through it and downloads the torrent.
func TestTrackerServesRealClients(t *testing.T) {
	testutil.NeedLibtorrent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	root, torPath, ih := trackerTorrent(t)
	httpURL, udpURL := startBttTracker(t)
	seed := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{Listen: testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: torPath, SavePath: root, Seed: true, TCP: true, Trackers: []string{httpURL}})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	if err := seed.WaitAnnounced(ctx); err != nil {
		t.Fatal(err)
	}
	c := &tracker.Client{UDPTimeout: time.Second, UDPRetries: 3}
	announceUntil(t, ctx, c, udpURL, ih, 40001, seed.Port())

	leech := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{Listen: testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
		Torrent: torPath, TCP: true, Trackers: []string{udpURL}})
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatalf("libtorrent leecher via our UDP tracker: %v", err)
	}
	leech.Stop()

	// Transmission takes trackers only from the torrent: a torrent of the same
	// data naming our tracker (so it has its own info-hash).
	tor2 := thirdparty.LibtorrentCreateTorrent(t, filepath.Join(root, "payload.bin"), 32<<10, true, []string{httpURL})
	ih2 := thirdparty.InfoHash(t, tor2)
	tr := thirdparty.StartTransmission(t, thirdparty.TransmissionConfig{Listen: testutil.Addr("127.0.0.5", testutil.FreePort(t, "127.0.0.5")),
		Torrent: thirdparty.WriteTorrent(t, tor2)})
	resp := announceUntil(t, ctx, c, httpURL, ih2, 40003, trPort(t, tr.Addr()))
	t.Logf("our tracker lists Transmission (HTTP): %v", resp.Peers)
	// And over UDP, with a torrent naming our UDP URL.
	tor3 := thirdparty.LibtorrentCreateTorrent(t, filepath.Join(root, "payload.bin"), 16<<10, true, []string{udpURL})
	tr3 := thirdparty.StartTransmission(t, thirdparty.TransmissionConfig{Listen: testutil.Addr("127.0.0.6", testutil.FreePort(t, "127.0.0.6")),
		Torrent: thirdparty.WriteTorrent(t, tor3)})
	resp = announceUntil(t, ctx, c, udpURL, thirdparty.InfoHash(t, tor3), 40004, trPort(t, tr3.Addr()))
	t.Logf("our tracker lists Transmission (UDP): %v", resp.Peers)
	res, err := c.Scrape(ctx, httpURL, [][20]byte{ih, ih2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scrape: %+v", res)
	// The leecher's "completed" (over UDP) counted as a download.
	if res[ih].Complete < 1 || res[ih].Downloaded != 1 || res[ih2].Incomplete+res[ih2].Complete < 2 {
		t.Errorf("scrape %+v: want the seeder and one download, and Transmission with us", res)
	}
}

func trPort(t *testing.T, addr string) int {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return int(ap.Port())
}

// Our seeder is found through our tracker: our session announces itself over HTTP,
// and a libtorrent leecher that knows only the tracker's UDP URL downloads the
// torrent from us.
func TestTrackerFindsOurSeeder(t *testing.T) {
	testutil.NeedLibtorrent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	root := thirdparty.WriteFiles(t, filepath.Join(dir, "ours"), []thirdparty.File{{Path: "a.bin", Size: 900_000}})
	mi, err := metainfo.Create(ctx, root, metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	torBytes, err := mi.Encode()
	if err != nil {
		t.Fatal(err)
	}
	httpURL, udpURL := startBttTracker(t)
	sess, err := peer.NewSession(peer.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	// The session announces itself to our tracker over HTTP; libtorrent asks over UDP.
	tor, err := sess.AddTorrent(mi.Info, peer.TorrentOptions{DataDir: dir, Trackers: [][]string{{httpURL}}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-tor.Complete():
	case <-ctx.Done():
		t.Fatal("our seeder did not finish checking its data")
	}
	for tor.Stats().TrackerAnnounces == 0 {
		if ctx.Err() != nil {
			t.Fatal("our seeder never announced to the tracker")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := t.TempDir()
	leech := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{Listen: testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
		Torrent: thirdparty.WriteTorrent(t, torBytes), SavePath: out, TCP: true, Trackers: []string{udpURL}})
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatalf("libtorrent via our tracker from our seeder: %v", err)
	}
	leech.Stop()
	want, _ := os.ReadFile(filepath.Join(root, "a.bin"))
	got, err := os.ReadFile(filepath.Join(out, "ours", "a.bin"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("downloaded file differs (%d of %d bytes, %v)", len(got), len(want), err)
	}
}

// BenchmarkTrackerAnnounce measures announces per second of our tracker and
// of opentracker, side by side in the same run, with the same load generator
// (btt-tracker bench: 8 workers, one request in flight each, 16 torrents,
// 1,000 peers per worker) for 3 s per case. It reports announces/s; ns/op is
// meaningless here. Run it in a netns:
//
//	go test -c -o /tmp/conf.test ./conformance/
//	unshare -n sh -c 'ip link set lo up && exec /tmp/conf.test -test.run XXX -test.bench TrackerAnnounce -test.benchtime 1x'
func BenchmarkTrackerAnnounce(b *testing.B) {
	bin := testutil.BuildCmd(b, "btt-tracker")
	hashes := make([][20]byte, 16)
	for i := range hashes {
		hashes[i] = sha1.Sum([]byte("btt-tracker bench " + strconv.Itoa(i)))
	}
	otHTTP, otUDP := thirdparty.StartOpentracker(b, testutil.Addr("127.0.0.1", testutil.FreePort(b, "127.0.0.1")),
		testutil.FreeUDPPort(b, "127.0.0.1"), hashes)
	ourHTTP, ourUDP := startBttTracker(b, "--rate", "-1")
	rate := map[string]float64{}
	for _, tc := range []struct{ name, url string }{
		{"udp/btt", ourUDP}, {"udp/opentracker", otUDP}, {"http/btt", ourHTTP}, {"http/opentracker", otHTTP},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				out, err := exec.CommandContext(ctx, bin, "bench", "--url", tc.url, "--duration", "3s").CombinedOutput()
				cancel()
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				m := regexp.MustCompile(`announces/s (\d+) .* (\d+) errors`).FindSubmatch(out)
				if m == nil {
					b.Fatalf("bench output %q", out)
				}
				v, _ := strconv.ParseFloat(string(m[1]), 64)
				rate[tc.name] = v
				b.ReportMetric(v, "announces/s")
				b.Logf("%s", strings.TrimSpace(string(out)))
			}
		})
	}
	for _, proto := range []string{"udp", "http"} {
		if ot := rate[proto+"/opentracker"]; ot > 0 {
			b.Logf("%s: btt-tracker / opentracker = %.2f", proto, rate[proto+"/btt"]/ot)
		}
	}
}
