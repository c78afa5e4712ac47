package conformance

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
)

// transmissionWeb is where Debian's transmission-daemon installs Transmission's web client.
const transmissionWeb = "/usr/share/transmission/web"

// artifactDir is where tests leave files for people to look at (screenshots): $BTT_ARTIFACTS,
// or a folder in the temporary directory.
func artifactDir(t testing.TB) string {
	dir := os.Getenv("BTT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "btt-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromium runs headless Chromium with the flags that keep it off the network and out of
// any profile but a fresh one.
func chromium(t testing.TB, args ...string) string {
	t.Helper()
	bin := testutil.NeedTool(t, "chromium")
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %q: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// TestDaemonWebClient loads Transmission's own web client (Debian's transmission-daemon
// package) from `btt daemon --web-ui` in headless Chromium: the page logs in through the
// RPC's session-id dance and lists our torrents with their progress. A screenshot is left
// in the artifact folder.
func TestDaemonWebClient(t *testing.T) {
	if _, err := os.Stat(filepath.Join(transmissionWeb, "index.html")); err != nil {
		if testutil.InCI() {
			t.Fatalf("required in CI: Transmission's web client (transmission-daemon): %v", err)
		}
		t.Skipf("skipping: Transmission's web client not installed: %v", err)
	}
	testutil.NeedTool(t, "chromium")
	d := startBTDaemon(t, t.TempDir(), "--web-ui", transmissionWeb)

	// One torrent whose data is all there (seeding, 100%), one with none of it (0%).
	have := t.TempDir()
	complete := thirdparty.CreateTorrent(t, have, "complete-webui.bin", 3<<20, 64<<10)
	missing := thirdparty.CreateTorrent(t, t.TempDir(), "missing-webui.bin", 2<<20, 64<<10)
	for _, add := range []struct {
		raw []byte
		dir string
	}{{complete, have}, {missing, t.TempDir()}} {
		d.rpc("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(add.raw), "download-dir": add.dir})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d.waitRow(ctx, 1, "seeding", func(r listRow) bool { return r.Done == "100%" })

	url := "http://" + d.rpcAddr + "/transmission/web/"
	dom := chromium(t, "--virtual-time-budget=10000", "--dump-dom", url)
	for _, want := range []string{
		"complete-webui.bin", "missing-webui.bin",
		"Seeding to 0 of 0 peers", "3.14 MB, uploaded 0 B (Ratio 0.00)", // the complete torrent's lines
		"0 B of 2.09 MB (0.00%)", // the empty one's
		`class="torrent_progress_bar complete seeding" style="width: 100%;`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the web client's page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
	shot := filepath.Join(artifactDir(t), "daemon-web-client.png")
	chromium(t, "--virtual-time-budget=10000", "--window-size=1280,720", "--screenshot="+shot, url)
	fi, err := os.Stat(shot)
	if err != nil || fi.Size() < 10<<10 {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, fi.Size())
	}
	t.Logf("screenshot: %s", shot)
}
