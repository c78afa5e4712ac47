package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/wire/metainfo"
)

// btDaemon is `btt daemon` running as its own process, as a user runs it.
type btDaemon struct {
	t        testing.TB
	bin, dir string
	rpcAddr  string // host:port
	listen   string
	extra    []string
	cmd      *exec.Cmd
	log      *bytes.Buffer
	exited   chan error
}

func startBTDaemon(t testing.TB, dir string, extra ...string) *btDaemon {
	t.Helper()
	d := &btDaemon{
		t:       t,
		bin:     testutil.BuildCmd(t, "btt"),
		dir:     dir,
		rpcAddr: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")),
		listen:  testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")),
		extra:   extra,
	}
	d.start()
	t.Cleanup(func() {
		if d.cmd != nil {
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("btt daemon log:\n%s", d.log)
		}
	})
	return d
}

func (d *btDaemon) start() {
	d.t.Helper()
	args := append([]string{"daemon", "--dir", d.dir, "--rpc", d.rpcAddr, "--listen", d.listen}, d.extra...)
	d.cmd = exec.Command(d.bin, args...)
	if d.log == nil {
		d.log = new(bytes.Buffer)
	}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.exited = make(chan error, 1)
	go func() { d.exited <- d.cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + d.rpcAddr + "/transmission/rpc")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("btt daemon did not answer on %s: %v\n%s", d.rpcAddr, err, d.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the daemon with sig and waits for it.
func (d *btDaemon) stop(sig os.Signal) error {
	d.cmd.Process.Signal(sig)
	var err error
	select {
	case err = <-d.exited:
	case <-time.After(30 * time.Second):
		d.t.Fatalf("btt daemon did not exit on %v", sig)
	}
	d.cmd = nil
	return err
}

// remote runs transmission-remote against the daemon and returns its output.
func (d *btDaemon) remote(args ...string) string {
	d.t.Helper()
	tr := testutil.NeedTool(d.t, "transmission-remote")
	out, err := exec.Command(tr, append([]string{d.rpcAddr}, args...)...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("transmission-remote %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// remoteOK runs a transmission-remote command that must answer "success".
func (d *btDaemon) remoteOK(args ...string) {
	d.t.Helper()
	if out := d.remote(args...); !strings.Contains(out, `responded: "success"`) {
		d.t.Fatalf("transmission-remote %q: %s", args, out)
	}
}

// listRow is one torrent in `transmission-remote -l` output.
type listRow struct {
	ID     int
	Done   string // "100%", "n/a"
	Status string
	Name   string
}

// listRe parses transmission-remote 3.00's -l lines: ID (with * on error), Done, Have
// (value and unit, or None), ETA (value and unit, or one word), Up, Down, Ratio, Status
// (may be two words), Name.
var listRe = regexp.MustCompile(`^\s*(\d+)\*?\s+(\S+)\s+(?:None|\S+ \S+)\s+(?:Unknown|Done|\S+ \S+|\S+)\s+\S+\s+\S+\s+\S+\s+(Up & Down|Stopped|Seeding|Idle|Downloading|Uploading|Verifying|Will Verify|Queued|Finished)\s+(.+)$`)

func (d *btDaemon) list() []listRow {
	d.t.Helper()
	out := d.remote("-l")
	var rows []listRow
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "ID") || strings.HasPrefix(line, "Sum:") {
			continue
		}
		m := listRe.FindStringSubmatch(line)
		if m == nil {
			d.t.Fatalf("transmission-remote -l line does not parse: %q\n%s", line, out)
		}
		id, _ := strconv.Atoi(m[1])
		rows = append(rows, listRow{ID: id, Done: m[2], Status: m[3], Name: strings.TrimSpace(m[4])})
	}
	return rows
}

// waitRow polls -l until the torrent's row satisfies ok.
func (d *btDaemon) waitRow(ctx context.Context, id int, what string, ok func(listRow) bool) listRow {
	d.t.Helper()
	var last []listRow
	for {
		last = d.list()
		for _, r := range last {
			if r.ID == id && ok(r) {
				return r
			}
		}
		select {
		case <-ctx.Done():
			d.t.Fatalf("torrent %d never became %s; last list: %+v\n%s", id, what, last, d.log)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// rpc calls a method with Go's HTTP client, doing the session-id dance.
func (d *btDaemon) rpc(method string, args any) map[string]any {
	d.t.Helper()
	body, _ := json.Marshal(map[string]any{"method": method, "arguments": args})
	var sid string
	for range 2 {
		req, _ := http.NewRequest("POST", "http://"+d.rpcAddr+"/transmission/rpc", bytes.NewReader(body))
		req.Header.Set("X-Transmission-Session-Id", sid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			d.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict {
			sid = resp.Header.Get("X-Transmission-Session-Id")
			continue
		}
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			d.t.Fatalf("%s: %v: %s", method, err, b)
		}
		if out["result"] != "success" {
			d.t.Fatalf("%s: result %v", method, out["result"])
		}
		return out["arguments"].(map[string]any)
	}
	d.t.Fatalf("%s: still 409 with the session id it gave", method)
	return nil
}

// torrent returns torrent-get's fields for one torrent.
func (d *btDaemon) torrent(id int, fields ...string) map[string]any {
	d.t.Helper()
	res := d.rpc("torrent-get", map[string]any{"ids": []int{id}, "fields": fields})
	list := res["torrents"].([]any)
	if len(list) != 1 {
		d.t.Fatalf("torrent-get %d: %d torrents", id, len(list))
	}
	return list[0].(map[string]any)
}

func (d *btDaemon) metrics() string {
	d.t.Helper()
	resp, err := http.Get("http://" + d.rpcAddr + "/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue reads one sample of a family for a torrent.
func metricValue(t testing.TB, text, family, hash string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + family + `\{torrent="` + hash + `"[^}]*\} (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s for %s in /metrics", family, hash)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sameFile(t testing.TB, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s and %s differ", a, b)
	}
}

// seedWithLibtorrent writes a file, makes a v1 torrent of it and seeds it with libtorrent.
func seedWithLibtorrent(t *testing.T, name string, size int64, settings map[string]any) (torrentPath, hash, content string, lt *thirdparty.LT) {
	t.Helper()
	src := t.TempDir()
	thirdparty.WriteFiles(t, src, []thirdparty.File{{Path: name, Size: size}})
	raw := thirdparty.LibtorrentCreateTorrent(t, filepath.Join(src, name), 64<<10, true, nil)
	torrentPath = filepath.Join(t.TempDir(), name+".torrent")
	if err := os.WriteFile(torrentPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ih := thirdparty.InfoHash(t, raw)
	lt = thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")), Torrent: torrentPath,
		SavePath: src, Seed: true, Settings: settings,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lt.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	return torrentPath, hex.EncodeToString(ih[:]), filepath.Join(src, name), lt
}

// TestDaemonTransmissionRemote drives `btt daemon` with Debian's transmission-remote: a
// .torrent and a magnet link, both seeded by libtorrent, are added with a download folder,
// listed until complete, stopped, started, verified and removed (one with its data), and
// /metrics, checked by promtool, counts what moved.
func TestDaemonTransmissionRemote(t *testing.T) {
	testutil.NeedLibtorrent(t)
	testutil.NeedTool(t, "transmission-remote")
	promtool := testutil.NeedTool(t, "promtool")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	torrentA, hashA, contentA, ltA := seedWithLibtorrent(t, "alpha.bin", 3<<20, nil)
	_, hashB, contentB, ltB := seedWithLibtorrent(t, "beta.bin", 2<<20, nil)
	d := startBTDaemon(t, t.TempDir())
	dlA, dlB := t.TempDir(), t.TempDir()

	d.remoteOK("-a", torrentA, "-w", dlA)
	ltA.ConnectPeer(d.listen)
	magnetB := fmt.Sprintf("magnet:?xt=urn:btih:%s&dn=beta.bin&x.pe=%s", hashB, ltB.Addr())
	d.remoteOK("-a", magnetB, "-w", dlB)

	complete := func(r listRow) bool { return r.Done == "100%" && (r.Status == "Idle" || r.Status == "Seeding") }
	t0 := time.Now()
	d.waitRow(ctx, 1, "complete", complete)
	t.Logf("%v: alpha complete", time.Since(t0))
	d.waitRow(ctx, 2, "complete", complete)
	t.Logf("%v: beta complete", time.Since(t0))
	sameFile(t, contentA, filepath.Join(dlA, "alpha.bin"))
	sameFile(t, contentB, filepath.Join(dlB, "beta.bin"))
	// The details, session info and statistics views parse our answers too.
	info := d.remote("-t", "1", "-i")
	for _, want := range []string{"Hash: " + hashA, "Percent Done: 100%", "Location: " + dlA, "Piece Count: 48"} {
		if !strings.Contains(info, want) {
			t.Errorf("transmission-remote -t 1 -i lacks %q:\n%s", want, info)
		}
	}
	if si := d.remote("-si"); !strings.Contains(si, "RPC version: 16") {
		t.Errorf("transmission-remote -si:\n%s", si)
	}
	if st := d.remote("-st"); !strings.Contains(st, "Started 1 times") {
		t.Errorf("transmission-remote -st:\n%s", st)
	}
	if got := d.torrent(2, "hashString", "name")["name"]; got != "beta.bin" {
		t.Errorf("magnet torrent's name after metadata: %v", got)
	}

	// The counters that moved, as a scraper sees them; promtool accepts the exposition.
	text := d.metrics()
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(text)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if v := metricValue(t, text, "btt_torrent_downloaded_bytes_total", hashA); v < 3<<20 {
		t.Errorf("btt_torrent_downloaded_bytes_total of alpha = %v, want >= %d", v, 3<<20)
	}
	if v := metricValue(t, text, "btt_torrent_pieces_verified", hashB); v != 32 {
		t.Errorf("btt_torrent_pieces_verified of beta = %v, want 32", v)
	}

	d.remoteOK("-t", "1", "-S")
	d.waitRow(ctx, 1, "stopped", func(r listRow) bool { return r.Status == "Stopped" })
	d.remoteOK("-t", "1", "-s")
	d.waitRow(ctx, 1, "seeding again", complete)
	t.Logf("%v: restarted", time.Since(t0))

	// Verify after damaging the data: the check finds the bad piece and the torrent fetches
	// it again from libtorrent.
	f, err := os.OpenFile(filepath.Join(dlA, "alpha.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xAA}, 1000), 100<<10)
	f.Close()
	d.remoteOK("-t", "1", "-v")
	// Once checked, the torrent runs again missing one piece. It knows no peer (there is no
	// tracker), and the first libtorrent remembers us as a seed, which a seed never dials:
	// a second libtorrent seeding the same data connects to us.
	d.waitRow(ctx, 1, "running with a piece missing", func(r listRow) bool {
		return r.Done != "100%" && r.Status != "Verifying" && r.Status != "Will Verify" && r.Status != "Stopped"
	})
	thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")), Torrent: torrentA,
		SavePath: filepath.Dir(contentA), Seed: true, Peers: []string{d.listen},
	})
	d.waitRow(ctx, 1, "complete after verify", complete)
	t.Logf("%v: complete after verify", time.Since(t0))
	sameFile(t, contentA, filepath.Join(dlA, "alpha.bin"))

	d.remoteOK("-t", "1", "-r")
	d.remoteOK("-t", "2", "--remove-and-delete")
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, errA := os.Stat(filepath.Join(dlA, "alpha.bin"))
		_, errB := os.Stat(filepath.Join(dlB, "beta.bin"))
		if errA == nil && os.IsNotExist(errB) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after -r and --remove-and-delete: alpha %v (want kept), beta %v (want gone)", errA, errB)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rows := d.list(); len(rows) != 0 {
		t.Errorf("after removing both, -l lists %+v", rows)
	}
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: exit %v\n%s", err, d.log)
	}
}

// startBTTSeeder runs `btt seed` with an upload limit, dialling peer. libtorrent cannot be
// slowed down on loopback (its local peer class ignores rate limits), ours can.
func startBTTSeeder(t *testing.T, torrent, data string, limit int, peer string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testutil.BuildCmd(t, "btt"), "seed", torrent, "--data", data,
		"--listen", testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")),
		"--upload-limit", strconv.Itoa(limit), "--peer", peer, "--progress-interval", "1h")
	startBackground(t, cmd) // its log is in the test log if the test fails
	return cmd
}

// TestDaemonKillRestart kills `btt daemon` with SIGKILL mid-download, starts it again on the
// same state directory, and checks that the torrent comes back by itself, takes the pieces
// already on disk (found by checking the files, as no resume data was written) and fetches
// only the rest. Then SIGTERM: a clean exit writes resume data, and the next start finds
// every piece back.
func TestDaemonKillRestart(t *testing.T) {
	testutil.NeedTool(t, "transmission-remote")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const size = 32 << 20
	src := t.TempDir()
	raw := thirdparty.CreateTorrent(t, src, "gamma.bin", size, 64<<10)
	torrent := filepath.Join(t.TempDir(), "gamma.torrent")
	if err := os.WriteFile(torrent, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	content := filepath.Join(src, "gamma.bin")
	mi, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ih := mi.Info.Hash()
	hash := hex.EncodeToString(ih[:])
	state, dl := t.TempDir(), t.TempDir()
	d := startBTDaemon(t, state)
	d.remoteOK("-a", torrent, "-w", dl)
	// A slow seeder (4 MB/s) leaves time to kill the daemon half-way.
	seeder := startBTTSeeder(t, torrent, src, 4_000_000, d.listen)
	// While it downloads, the seeder is listed as a peer (transmission-remote -pi) by name.
	for {
		if pi := d.remote("-t", "1", "-pi"); strings.Contains(pi, "btt 0.1") && strings.Contains(pi, "127.0.0.1") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("transmission-remote -t 1 -pi never listed the seeder:\n%s", d.remote("-t", "1", "-pi"))
		case <-time.After(100 * time.Millisecond):
		}
	}
	for {
		done := d.torrent(1, "percentDone")["percentDone"].(float64)
		if done >= 0.25 {
			if done == 1 {
				t.Fatal("the download finished before the daemon could be killed")
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("download stuck at %v%%\n%s", done*100, d.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
	d.stop(syscall.SIGKILL)
	seeder.Process.Kill()

	d.start()
	if rows := d.list(); len(rows) != 1 || rows[0].Name != "gamma.bin" {
		t.Fatalf("after SIGKILL and restart, -l lists %+v", rows)
	}
	d.waitRow(ctx, 1, "checked", func(r listRow) bool { return r.Status != "Verifying" && r.Status != "Will Verify" })
	stats := func() map[string]any {
		return d.torrent(1, "btt")["btt"].(map[string]any)["stats"].(map[string]any)
	}
	rechecked := stats()["RecheckedPieces"].(float64)
	if rechecked == 0 {
		t.Fatal("after restart no piece was found on disk")
	}
	startBTTSeeder(t, torrent, src, 0, d.listen)
	d.waitRow(ctx, 1, "complete", func(r listRow) bool { return r.Done == "100%" })
	sameFile(t, content, filepath.Join(dl, "gamma.bin"))
	st := stats()
	pieces := st["Pieces"].(float64)
	got := st["Downloaded"].(float64)
	if max := size * (1 - rechecked/pieces); got > max+float64(4<<20) {
		t.Errorf("after restart downloaded %v bytes; %v of %v pieces were on disk, so about %v were missing", got, rechecked, pieces, max)
	}
	t.Logf("killed at %.0f%%: %v of %v pieces found on disk after restart; %v bytes downloaded after it", 100*rechecked/pieces, rechecked, pieces, got)

	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, d.log)
	}
	if _, err := os.Stat(filepath.Join(state, "resume", hash+".resume")); err != nil {
		t.Fatalf("no resume data after SIGTERM: %v", err)
	}
	d.start()
	d.waitRow(ctx, 1, "complete from resume data", func(r listRow) bool { return r.Done == "100%" })
	if got := stats()["RecheckedPieces"].(float64); got != pieces {
		t.Errorf("after a clean stop, %v of %v pieces were found at start", got, pieces)
	}
}

// TestDaemonSpeed runs the daemon with Speed on (flags as on btt download) as the seller
// of a torrent, and `btt download --speed` as a bidding buyer: the buyer completes, /metrics
// counts the bids the daemon received and what it uploaded, and the Speed settings given on
// the command line are kept for the next start without flags.
func TestDaemonSpeed(t *testing.T) {
	testutil.NeedTool(t, "transmission-remote")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := t.TempDir()
	const size = 12 << 20
	raw := thirdparty.CreateTorrent(t, src, "delta.bin", size, 64<<10)
	torrent := filepath.Join(t.TempDir(), "delta.torrent")
	if err := os.WriteFile(torrent, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	mi, _ := metainfo.Parse(raw)
	ih := mi.Info.Hash()
	hash := hex.EncodeToString(ih[:])
	state := t.TempDir()
	d := startBTDaemon(t, state, "--speed", "--balance", "10", "--rechoke", "1s")
	d.remoteOK("-a", torrent, "-w", src)
	d.waitRow(ctx, 1, "seeding", func(r listRow) bool { return r.Done == "100%" })
	// An upload limit set over the RPC while running (3 MB/s) stretches the download over
	// several seconds, so the buyer's auto-bid (once a second) has bids to send.
	d.remoteOK("-u", "3000")
	if st := d.rpc("session-get", map[string]any{"fields": []string{"speed-limit-up", "speed-limit-up-enabled"}}); st["speed-limit-up"].(float64) != 3000 || st["speed-limit-up-enabled"] != true {
		t.Errorf("after -u 3000: %v", st)
	}

	dl := t.TempDir()
	buyer := exec.CommandContext(ctx, testutil.BuildCmd(t, "btt"), "download", torrent, "--data", dl,
		"--peer", d.listen, "--speed", "--balance", "10", "--progress-interval", "1h")
	if out, err := buyer.CombinedOutput(); err != nil {
		t.Fatalf("btt download --speed: %v\n%s", err, out)
	}
	sameFile(t, filepath.Join(src, "delta.bin"), filepath.Join(dl, "delta.bin"))
	text := d.metrics()
	if v := metricValue(t, text, "btt_speed_bids_received_total", hash); v == 0 {
		t.Error("btt_speed_bids_received_total did not move")
	}
	if v := metricValue(t, text, "btt_torrent_uploaded_bytes_total", hash); v < size {
		t.Errorf("btt_torrent_uploaded_bytes_total = %v, want >= %d", v, size)
	}
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.extra = nil
	d.start()
	sp := d.rpc("session-get", map[string]any{"fields": []string{"btt"}})["btt"].(map[string]any)["speed"].(map[string]any)
	if sp["enabled"] != true || sp["balance"] != "10" {
		t.Errorf("Speed settings after a restart without flags: %v", sp)
	}
}
