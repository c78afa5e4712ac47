package conformance

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
)

// startTransmissionDaemon runs Debian's transmission-daemon in the foreground with DHT, LPD,
// PEX, port mapping and blocklists off, RPC on loopback without a password, and returns a
// btDaemon-like handle for transmission-remote.
func startTransmissionDaemon(t *testing.T) *btDaemon {
	t.Helper()
	bin := testutil.NeedTool(t, "transmission-daemon")
	conf := t.TempDir()
	rpcPort := testutil.FreePort(t, "127.0.0.1")
	peerPort := testutil.FreePort(t, "127.0.0.1")
	settings := map[string]any{
		"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
		"port-forwarding-enabled": false, "blocklist-enabled": false,
		"rpc-bind-address": "127.0.0.1", "rpc-port": rpcPort, "rpc-authentication-required": false,
		"rpc-whitelist-enabled": false, "rpc-host-whitelist-enabled": false,
		"bind-address-ipv4": "127.0.0.1", "peer-port": peerPort, "peer-port-random-on-start": false,
		"download-dir": t.TempDir(), "message-level": 1,
	}
	b, _ := json.Marshal(settings)
	if err := os.WriteFile(filepath.Join(conf, "settings.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	d := &btDaemon{t: t, rpcAddr: testutil.Addr("127.0.0.1", rpcPort)}
	cmd := exec.Command(bin, "-f", "-g", conf)
	startBackground(t, cmd) // its log is in the test log if the test fails
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out, err := exec.Command(testutil.NeedTool(t, "transmission-remote"), d.rpcAddr, "-l").CombinedOutput(); err == nil && strings.Contains(string(out), "Sum:") {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("transmission-daemon did not answer on %s", d.rpcAddr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// infoLabels are the "Label:" lines of transmission-remote -i, in order, with the values
// that depend on the daemon (dates, durations, folders, versions) left out.
func infoLabels(out string) []string {
	var labels []string
	re := regexp.MustCompile(`^\s+([A-Za-z &]+):`)
	for _, line := range strings.Split(out, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			if m[1] == "Seeding Time" {
				continue // printed only once a whole second of seeding has passed: timing, not format
			}
			labels = append(labels, m[1])
		} else if l := strings.TrimSpace(line); l != "" && l == strings.ToUpper(l) {
			labels = append(labels, l) // section headings: NAME, TRANSFER, ...
		}
	}
	return labels
}

// TestDaemonOutputMatchesTransmission adds the same complete torrent to btt daemon and to
// Debian's transmission-daemon and reads both with transmission-remote: the -l rows parse
// the same and agree, and -i prints the same lines with the same values where they do not
// depend on which daemon answered.
func TestDaemonOutputMatchesTransmission(t *testing.T) {
	testutil.NeedTool(t, "transmission-remote")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := t.TempDir()
	raw := thirdparty.CreateTorrent(t, data, "epsilon.bin", 5<<20, 64<<10)
	torrent := filepath.Join(t.TempDir(), "epsilon.torrent")
	if err := os.WriteFile(torrent, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	theirs := startTransmissionDaemon(t)
	ours := startBTDaemon(t, t.TempDir())
	rows := map[string]listRow{}
	infos := map[string]string{}
	for name, d := range map[string]*btDaemon{"btt": ours, "transmission": theirs} {
		d.remoteOK("-a", torrent, "-w", data)
		rows[name] = d.waitRow(ctx, 1, "seeding", func(r listRow) bool { return r.Done == "100%" && r.Status == "Idle" })
		infos[name] = d.remote("-t", "1", "-i")
	}
	if diff := cmp.Diff(rows["transmission"], rows["btt"]); diff != "" {
		t.Errorf("-l rows differ (-transmission +btt):\n%s", diff)
	}
	if diff := cmp.Diff(infoLabels(infos["transmission"]), infoLabels(infos["btt"])); diff != "" {
		t.Errorf("-i lines differ (-transmission +btt):\n%s\ntransmission:\n%s\nbtt:\n%s", diff, infos["transmission"], infos["btt"])
	}
	for _, line := range []string{"Name: epsilon.bin", "Percent Done: 100%", "Have: 5.24 MB (5.24 MB verified)",
		"Total size: 5.24 MB (5.24 MB wanted)", "Piece Count: 80", "Piece Size: 64.00 KiB", "Public torrent: Yes"} {
		for name, out := range infos {
			if !strings.Contains(out, line) {
				t.Errorf("%s's -i lacks %q", name, line)
			}
		}
	}
}
