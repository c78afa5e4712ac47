package thirdparty

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/wire/bencode"
)

// StartOpentracker runs opentracker with its HTTP tracker on httpAddr
// ("IP:PORT") and its UDP tracker on the same IP at udpPort, serving only the
// given info-hashes, and returns the two announce URLs once it listens. It is
// killed at test cleanup.
//
// Debian's opentracker is built in whitelist mode: an info-hash not listed is
// answered with a failure reason. It chroots into its directory and reads the
// whitelist from inside it, so the file is DIR/whitelist.txt named as
// /whitelist.txt. It answers each announce with the peers that announced
// before, seen at their source address; v2/hybrid clients also announce the
// truncated v2 hash, which needs its own entry to be served.
func StartOpentracker(t testing.TB, httpAddr string, udpPort int, infohashes [][20]byte) (httpURL, udpURL string) {
	t.Helper()
	bin := needTool(t, "opentracker")
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		t.Fatalf("opentracker: address %q: %v", httpAddr, err)
	}
	dir := t.TempDir()
	// opentracker drops to user nobody after chroot; it must still read the list.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var wl strings.Builder
	for _, ih := range infohashes {
		wl.WriteString(hex.EncodeToString(ih[:]) + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "whitelist.txt"), []byte(wl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// -i applies to the -p/-P options after it; without -P opentracker would
	// also bind UDP on its default port 6969.
	cmd := exec.Command(bin, "-i", host, "-p", port, "-P", strconv.Itoa(udpPort), "-d", dir, "-w", "/whitelist.txt")
	logDir := t.TempDir()
	p := startProc(t, "opentracker", logDir, cmd, false)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitListen(ctx, p, httpAddr); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://%s/announce", httpAddr),
		fmt.Sprintf("udp://%s/announce", net.JoinHostPort(host, strconv.Itoa(udpPort)))
}

// ScrapeCounts asks an HTTP tracker (by its announce URL) how many seeders and
// leechers it knows for infohash (BEP 48 scrape).
func ScrapeCounts(ctx context.Context, announceURL string, infohash [20]byte) (seeders, leechers int, err error) {
	u, ok := strings.CutSuffix(announceURL, "/announce")
	if !ok {
		return 0, 0, fmt.Errorf("scrape: %q does not end in /announce", announceURL)
	}
	u += "/scrape?info_hash=" + url.QueryEscape(string(infohash[:]))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, 0, err
	}
	var r struct {
		Files map[string]struct {
			Complete   int `bencode:"complete"`
			Incomplete int `bencode:"incomplete"`
		} `bencode:"files"`
		Failure string `bencode:"failure reason"`
	}
	if err := bencode.Unmarshal(body, &r); err != nil {
		return 0, 0, fmt.Errorf("scrape %s: %w (body %q)", u, err, body)
	}
	if r.Failure != "" {
		return 0, 0, fmt.Errorf("scrape %s: tracker failure: %s", u, r.Failure)
	}
	f := r.Files[string(infohash[:])]
	return f.Complete, f.Incomplete, nil
}

// WaitSwarm polls the tracker's scrape until it counts at least n peers
// (seeders plus leechers) for infohash, bounded by ctx. Use it to order
// start-ups: a client that announces later is told about the ones before it.
func WaitSwarm(ctx context.Context, announceURL string, infohash [20]byte, n int) error {
	for {
		s, l, err := ScrapeCounts(ctx, announceURL, infohash)
		if err == nil && s+l >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tracker swarm of %x has %d seeders and %d leechers, want %d peers: %w (last error: %v)",
				infohash, s, l, n, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
