package thirdparty

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Aria2Config configures one aria2c BitTorrent download (or seed).
type Aria2Config struct {
	// Listen is "IP:PORT": aria2 listens there (--listen-port) and binds every
	// socket, tracker requests included, to the IP (--interface).
	Listen string
	// Torrent is the .torrent path.
	Torrent string
	// Dir is the download directory; defaults to a fresh temporary directory.
	Dir string
	// Trackers are extra announce URLs (--bt-tracker).
	Trackers []string
	// Seed keeps aria2 seeding after the download (or after checking data
	// already in Dir) until stopped; otherwise it exits once complete
	// (--seed-time=0).
	Seed bool
	// Args are extra aria2c options, appended last.
	Args []string
}

// Aria2 is a running aria2c.
type Aria2 struct {
	p      *proc
	addr   string
	dir    string
	marker string
}

// StartAria2 runs aria2c on one torrent with DHT, LPD and PEX off and plaintext
// handshakes allowed. aria2 cannot be told to dial a peer: it finds peers
// through the torrent's trackers, or a seeder dials it. Cleanup stops it.
func StartAria2(t testing.TB, cfg Aria2Config) *Aria2 {
	t.Helper()
	bin := needTool(t, "aria2c")
	needIsolatedNet(t)
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		t.Fatalf("aria2: Listen %q: %v", cfg.Listen, err)
	}
	work := t.TempDir()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(work, "download")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(work, "finished")
	script := writeScript(t, work, "on-complete.sh", marker)
	args := []string{
		"--no-conf", "--dir=" + cfg.Dir,
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--disable-ipv6=true", "--interface=" + host, "--listen-port=" + port,
		"--bt-require-crypto=false", "--bt-min-crypto-level=plain",
		"--file-allocation=none", "--summary-interval=0", "--auto-save-interval=0",
		"--console-log-level=notice", "--log=-", "--log-level=info",
		"--on-bt-download-complete=" + script,
		// Die with the test process even if it is killed.
		"--stop-with-process=" + strconv.Itoa(os.Getpid()),
	}
	if cfg.Seed {
		args = append(args, "--seed-ratio=0.0", "--check-integrity=true", "--bt-hash-check-seed=true")
	} else {
		args = append(args, "--seed-time=0")
	}
	if len(cfg.Trackers) > 0 {
		args = append(args, "--bt-tracker="+strings.Join(cfg.Trackers, ","))
	}
	args = append(args, cfg.Args...)
	args = append(args, cfg.Torrent)
	a := &Aria2{addr: cfg.Listen, dir: cfg.Dir, marker: marker}
	a.p = startProc(t, "aria2-"+host, work, exec.Command(bin, args...), false)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitListen(ctx, a.p, cfg.Listen); err != nil {
		t.Fatal(err)
	}
	return a
}

// Addr is the address aria2 accepts peers on, "IP:PORT".
func (a *Aria2) Addr() string { return a.addr }

// Dir is where aria2 saves the torrent's files.
func (a *Aria2) Dir() string { return a.dir }

// WaitFinished waits until aria2 ran its --on-bt-download-complete hook.
func (a *Aria2) WaitFinished(ctx context.Context) error { return waitFile(ctx, a.p, a.marker) }

// WaitExit waits for aria2 to exit on its own (after completion with Seed
// false) and returns its exit error.
func (a *Aria2) WaitExit(ctx context.Context) error { return a.p.wait(ctx) }

// Stop ends aria2c.
func (a *Aria2) Stop() { a.p.stop() }
