package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/bench"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
)

// runJSON runs btt with args and decodes the last line of its output, which the contract
// (CONTRACTS.md, Benchmarks) says is one JSON object with at least "mbps".
func runJSON(t *testing.T, btt string, into any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, btt, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("btt %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	var probe struct {
		MBps *float64 `json:"mbps"`
	}
	if err := json.Unmarshal([]byte(last), &probe); err != nil || probe.MBps == nil {
		t.Fatalf("btt %s: last line is not a JSON object with mbps (%v): %s", strings.Join(args, " "), err, last)
	}
	if err := json.Unmarshal([]byte(last), into); err != nil {
		t.Fatal(err)
	}
	t.Logf("btt %s:\n%s", strings.Join(args, " "), strings.Join(lines[:len(lines)-1], "\n"))
}

// checkConnect asserts what a verified run of the connection tester must show whatever
// the machine's speed: every downloader connected, bytes came, every completed piece
// matched its SHA-1 and none failed.
func checkConnect(t *testing.T, r *bench.ConnectResult, peers int) {
	t.Helper()
	if r.Connected != peers || len(r.PerPeer) != peers {
		t.Errorf("%d of %d downloaders connected (%d results)", r.Connected, peers, len(r.PerPeer))
	}
	if r.Bytes <= 0 || r.MBps <= 0 {
		t.Errorf("no data: %d bytes, %.1f MB/s", r.Bytes, r.MBps)
	}
	if !r.Verify || r.Verified == 0 || r.HashFails != 0 {
		t.Errorf("verify %v: %d pieces verified, %d failed", r.Verify, r.Verified, r.HashFails)
	}
	var sum int64
	for _, p := range r.PerPeer {
		sum += p.Bytes
		if p.Err != "" {
			t.Errorf("downloader %s: %s", p.Local, p.Err)
		}
	}
	if sum != r.Bytes {
		t.Errorf("per-peer bytes sum to %d, aggregate says %d", sum, r.Bytes)
	}
	if r.P50ms <= 0 || r.P99ms < r.P50ms {
		t.Errorf("latency p50 %.3f ms, p99 %.3f ms", r.P50ms, r.P99ms)
	}
}

// TestBenchConnect runs `btt bench connect --verify --json` against our seeder (a `btt
// seed` process, whose CPU and RSS the tester finds and samples) and against a libtorrent
// seeder, and checks that the result parses and every piece it completed verified.
func TestBenchConnect(t *testing.T) {
	testutil.NeedLibtorrent(t)
	btt := testutil.BuildCmd(t, "btt")
	dir := t.TempDir()
	// 64 KiB pieces: pieces complete often, so a few seconds verify many of them.
	_, torrent := makeTorrent(t, dir, "bc", []thirdparty.File{{Path: "x.bin", Size: 8<<20 + 12345}}, 64<<10, false)
	const peers = 4

	t.Run("ours", func(t *testing.T) {
		addr := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
		seed := exec.Command(btt, "seed", torrent, "--data", dir, "--listen", addr, "--progress-interval", "1h")
		logPath := startBackground(t, seed)
		waitLogLine(t, logPath, "seeding ")
		var r bench.ConnectResult
		runJSON(t, btt, &r, "bench", "connect", "--torrent", torrent, "--peer", addr, "--peers", "4",
			"--duration", "3", "--verify", "--json", "--source-ip", "127.0.0.20")
		checkConnect(t, &r, peers)
		if r.Seeder == nil || r.Seeder.PID != seed.Process.Pid || r.Seeder.CPUSeconds <= 0 || r.Seeder.RSS <= 0 {
			t.Errorf("seeder usage %+v, want pid %d sampled", r.Seeder, seed.Process.Pid)
		}
	})
	t.Run("libtorrent", func(t *testing.T) {
		lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
			Listen:   testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
			Torrent:  torrent,
			SavePath: dir,
			Seed:     true,
			TCP:      true,
		})
		if err := lt.WaitSeeding(ctxFor(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		var r bench.ConnectResult
		runJSON(t, btt, &r, "bench", "connect", "--torrent", torrent, "--peer", lt.Addr(), "--peers", "4",
			"--duration", "3", "--verify", "--json", "--source-ip", "127.0.0.30")
		checkConnect(t, &r, peers)
		if r.Seeder == nil || r.Seeder.CPUSeconds <= 0 {
			t.Errorf("libtorrent's driver was not found and sampled: %+v", r.Seeder)
		}
	})
}

// TestBenchTransfer runs `btt bench transfer --size 64 --json`, over TCP with libtorrent
// beside it and over uTP, and checks the results parse and describe complete transfers.
func TestBenchTransfer(t *testing.T) {
	testutil.NeedLibtorrent(t)
	btt := testutil.BuildCmd(t, "btt")
	type result struct {
		MBps       float64               `json:"mbps"`
		Transport  string                `json:"transport"`
		Btt        *bench.TransferResult `json:"btt"`
		Libtorrent *bench.TransferResult `json:"libtorrent"`
		Ratios     map[string]float64    `json:"ratios"`
	}
	check := func(t *testing.T, r *bench.TransferResult) {
		t.Helper()
		if r == nil {
			t.Fatal("missing")
		}
		if r.Bytes != 64<<20 || r.MBps <= 0 || r.Seeder.CPUSeconds <= 0 || r.Leecher.CPUSeconds <= 0 ||
			r.Seeder.PeakRSS <= 0 || r.Leecher.PeakRSS <= 0 {
			t.Errorf("%s: incomplete result %+v", r.Client, r)
		}
	}
	t.Run("tcp+libtorrent", func(t *testing.T) {
		var r result
		runJSON(t, btt, &r, "bench", "transfer", "--size", "64", "--libtorrent", "--json")
		check(t, r.Btt)
		check(t, r.Libtorrent)
		if r.MBps != r.Btt.MBps || r.Transport != "tcp" || r.Ratios["mbps"] <= 0 || r.Ratios["leecher_cpu"] <= 0 {
			t.Errorf("summary %+v", r)
		}
	})
	t.Run("utp", func(t *testing.T) {
		var r result
		runJSON(t, btt, &r, "bench", "transfer", "--size", "64", "--transport", "utp", "--json")
		check(t, r.Btt)
		if r.Transport != "utp" || r.Libtorrent != nil {
			t.Errorf("summary %+v", r)
		}
	})
}

// waitLogLine waits (bounded) for a background command's log to contain text.
func waitLogLine(t *testing.T, logPath, text string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if out, _ := os.ReadFile(logPath); strings.Contains(string(out), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not in %s after a minute", text, logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
