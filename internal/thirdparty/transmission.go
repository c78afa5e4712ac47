package thirdparty

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TransmissionConfig configures one transmission-cli download (or seed).
type TransmissionConfig struct {
	// Listen is "IP:PORT": Transmission binds its peer port to this IPv4
	// address and dials from it. Give it its own 127.0.0.x.
	Listen string
	// Torrent is the .torrent path (transmission-cli also takes a magnet URI here).
	Torrent string
	// Dir is the download directory; defaults to a fresh temporary directory.
	Dir string
	// UTP enables uTP (off by default so the wire is TCP only).
	UTP bool
	// Encryption is Transmission's setting: 0 prefer plaintext (default;
	// "tolerated"), 1 prefer encryption, 2 require it.
	Encryption int
	// Verify says the data is in Dir: Transmission hash-checks it on start and then seeds.
	Verify bool
	// Settings are extra settings.json entries, applied last.
	Settings map[string]any
}

// Transmission is a running transmission-cli.
type Transmission struct {
	p      *proc
	addr   string
	dir    string
	marker string
}

// StartTransmission runs transmission-cli on one torrent with a private config
// dir whose settings.json turns off DHT, LPD, PEX, port mapping, blocklists and
// speed limits. It cannot be told to dial a peer: a seeder must dial it, or it
// finds peers through a tracker in the torrent. It keeps seeding after it
// finishes; cleanup (or Stop) ends it.
func StartTransmission(t testing.TB, cfg TransmissionConfig) *Transmission {
	t.Helper()
	bin := needTool(t, "transmission-cli")
	needIsolatedNet(t)
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		t.Fatalf("transmission: Listen %q: %v", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("transmission: Listen %q: %v", cfg.Listen, err)
	}
	work := t.TempDir()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(work, "download")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	confDir := filepath.Join(work, "config")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	settings := map[string]any{
		"dht-enabled":                false,
		"lpd-enabled":                false,
		"pex-enabled":                false,
		"port-forwarding-enabled":    false,
		"utp-enabled":                cfg.UTP,
		"encryption":                 cfg.Encryption,
		"bind-address-ipv4":          host,
		"bind-address-ipv6":          "::1",
		"peer-port":                  port,
		"peer-port-random-on-start":  false,
		"blocklist-enabled":          false,
		"speed-limit-down-enabled":   false,
		"speed-limit-up-enabled":     false,
		"alt-speed-enabled":          false,
		"ratio-limit-enabled":        false,
		"idle-seeding-limit-enabled": false,
		"download-dir":               cfg.Dir,
		"incomplete-dir-enabled":     false,
		"start-added-torrents":       true,
		"message-level":              3, // debug: tracker and peer events go to the log (stderr)
	}
	for k, v := range cfg.Settings {
		settings[k] = v
	}
	js, err := json.MarshalIndent(settings, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(confDir, "settings.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(work, "finished")
	script := writeScript(t, work, "on-finish.sh", marker)
	args := []string{"-g", confDir, "-w", cfg.Dir, "-f", script, "-p", portStr, "-M", "-D", "-U"}
	// Verify passes no -v: Transmission checks the files it finds when it adds a torrent
	// without resume data. With -v, transmission-cli stops the torrent to verify it a second
	// time, and its main loop exits if it polls during that pause (it did, in about half the
	// runs here: the seeder quit before serving anyone).
	args = append(args, cfg.Torrent)
	cmd := exec.Command(bin, args...)
	tr := &Transmission{addr: cfg.Listen, dir: cfg.Dir, marker: marker}
	// stdout is only a progress line redrawn with \r every second; the log
	// messages are on stderr.
	tr.p = startProc(t, "transmission-"+host, work, cmd, true)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitListen(ctx, tr.p, cfg.Listen); err != nil {
		t.Fatal(err)
	}
	return tr
}

// Addr is the address Transmission accepts peers on, "IP:PORT".
func (tr *Transmission) Addr() string { return tr.addr }

// Dir is where Transmission saves the torrent's files.
func (tr *Transmission) Dir() string { return tr.dir }

// WaitFinished waits until Transmission ran its finish script (the torrent is
// complete and verified).
func (tr *Transmission) WaitFinished(ctx context.Context) error {
	return waitFile(ctx, tr.p, tr.marker)
}

// WaitVerified waits until Transmission has finished hash-checking the data in
// its download directory (Verify). Until then it may turn peers away; after it,
// with all data present, it seeds. Note that Transmission unchokes only on its
// 10-second rechoke pulse, so the first block can take that long.
func (tr *Transmission) WaitVerified(ctx context.Context) error {
	return waitLog(ctx, tr.p, "Verification is done")
}

// Stop ends transmission-cli.
func (tr *Transmission) Stop() { tr.p.stop() }
