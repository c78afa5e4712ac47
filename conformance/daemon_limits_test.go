package conformance

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
)

// TestDaemonDownloadLimit: libtorrent seeds a torrent as fast as loopback goes, and btt
// daemon downloads it under limits set with transmission-remote while it runs: the
// session's (-d), the torrent's own (-t 1 -d), the alternative speed (-asd, -as). Over each
// window the bytes downloaded stay within the limit times the window plus the bucket's
// burst and a block; with every limit lifted the download completes. The bound counts bytes
// over a window measured by the clock; nothing asserts how long anything takes.
func TestDaemonDownloadLimit(t *testing.T) {
	testutil.NeedLibtorrent(t)
	testutil.NeedTool(t, "transmission-remote")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const size = 24 << 20 // far more than the limited windows take
	torrent, _, content, lt := seedWithLibtorrent(t, "limited.bin", size, nil)
	d := startBTDaemon(t, t.TempDir())
	dl := t.TempDir()

	d.remoteOK("-d", "256") // kB/s, 1000 bytes each, as Transmission counts
	d.remoteOK("-a", torrent, "-w", dl)
	lt.ConnectPeer(d.listen)
	downloaded := func() int64 {
		return int64(d.torrent(1, "downloadedEver")["downloadedEver"].(float64))
	}
	for downloaded() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the download never started")
		case <-time.After(100 * time.Millisecond):
		}
	}
	// window measures the bytes downloaded over about 5 s and checks them against limit
	// (bytes/s): at most limit·elapsed + the bucket's burst (a quarter second, at least
	// 64 KiB) + the block that may put it in debt + one block let through before the window
	// and counted in it (a block counts once read), with 5% for the clock read around the
	// RPCs.
	window := func(what string, limit float64) {
		t.Helper()
		t0, b0 := time.Now(), downloaded()
		time.Sleep(5 * time.Second)
		b1 := downloaded()
		el := time.Since(t0).Seconds()
		got := float64(b1 - b0)
		allowed := limit*el*1.05 + max(limit/4, 64<<10) + 2*16<<10
		t.Logf("%s: %.0f bytes in %.2f s = %.0f B/s against a limit of %.0f B/s (%.2fx); bound %.0f bytes",
			what, got, el, got/el, limit, got/el/limit, allowed)
		if got > allowed {
			t.Errorf("%s: %.0f bytes downloaded in %.2f s, more than %.0f allowed by a limit of %.0f B/s", what, got, el, allowed, limit)
		}
		if b1 >= size {
			t.Fatalf("%s: the download completed inside a limited window: the limit did not hold", what)
		}
	}
	window("session limit 256 kB/s", 256_000)

	// The torrent's own limit, under the session's, at run time.
	d.remoteOK("-t", "1", "-d", "100")
	if f := d.torrent(1, "downloadLimit", "downloadLimited"); f["downloadLimit"] != 100.0 || f["downloadLimited"] != true {
		t.Errorf("torrent-get after -t 1 -d 100: %v", f)
	}
	window("torrent limit 100 kB/s", 100_000)

	// The alternative speed replaces the session's limit; the torrent's is lifted.
	d.remoteOK("-t", "1", "-D")
	d.remoteOK("-asd", "50")
	d.remoteOK("-as")
	st := d.rpc("session-get", map[string]any{"fields": []string{"alt-speed-enabled", "alt-speed-down"}})
	if st["alt-speed-enabled"] != true || st["alt-speed-down"] != 50.0 {
		t.Errorf("session-get after -asd 50 -as: %v", st)
	}
	window("alternative speed 50 kB/s", 50_000)

	// Everything lifted: the rest comes at loopback speed.
	d.remoteOK("-AS")
	d.remoteOK("-D")
	d.waitRow(ctx, 1, "complete", func(r listRow) bool { return r.Done == "100%" })
	sameFile(t, content, filepath.Join(dl, "limited.bin"))
	if v := metricValue(t, d.metrics(), "btt_torrent_download_limit_bytes", d.torrent(1, "hashString")["hashString"].(string)); v != 0 {
		t.Errorf("btt_torrent_download_limit_bytes after -t 1 -D = %v", v)
	}
}
