package conformance

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
)

// BenchmarkTransferTCP moves one torrent over loopback TCP from a seeder to a leecher, ours
// (btt seed -> btt download, separate processes) and libtorrent's, in the same run, and
// reports MB/s, CPU seconds per GiB of each side, our peak RSS, and the ratios.
//
//	unshare -n sh -c 'ip link set lo up && exec go test ./conformance -run ^$ -bench TransferTCP -benchtime 1x'
//
// BTT_BENCH_MIB sets the size (default 1024); BTT_BENCH_PIECE the piece length (default 256 KiB).
func BenchmarkTransferTCP(b *testing.B) {
	testutil.NeedLibtorrent(b)
	size := int64(envInt("BTT_BENCH_MIB", 1024)) << 20
	pieceLen := envInt("BTT_BENCH_PIECE", 256<<10)
	btt := testutil.BuildCmd(b, "btt")
	dir := b.TempDir()
	root := thirdparty.WriteFiles(b, filepath.Join(dir, "bench"), []thirdparty.File{{Path: "payload.bin", Size: size}})
	torrent := filepath.Join(dir, "bench.torrent")
	if out, err := exec.Command(btt, "create", "-o", torrent, "--piece-length", strconv.Itoa(pieceLen), root).CombinedOutput(); err != nil {
		b.Fatalf("btt create: %v\n%s", err, out)
	}
	for b.Loop() {
		ours := ourTransfer(b, btt, torrent, dir)
		lt := thirdparty.LibtorrentTransfer(b, context.Background(), thirdparty.TransferConfig{Size: size, PieceLen: pieceLen})
		gib := float64(size) / (1 << 30)
		b.ReportMetric(ours.mbps, "ours-MB/s")
		b.ReportMetric(lt.MBps, "lt-MB/s")
		b.ReportMetric(ours.mbps/lt.MBps, "speed-ratio")
		b.ReportMetric(ours.seedCPU/gib, "ours-seed-cpu-s/GiB")
		b.ReportMetric(ours.leechCPU/gib, "ours-leech-cpu-s/GiB")
		b.ReportMetric(lt.SeederCPU/gib, "lt-seed-cpu-s/GiB")
		b.ReportMetric(lt.LeecherCPU/gib, "lt-leech-cpu-s/GiB")
		b.ReportMetric((ours.seedCPU+ours.leechCPU)/(lt.SeederCPU+lt.LeecherCPU), "cpu-ratio")
		b.ReportMetric(float64(ours.seedRSS)/(1<<20), "ours-seed-peakRSS-MiB")
		b.ReportMetric(float64(ours.leechRSS)/(1<<20), "ours-leech-peakRSS-MiB")
		b.Logf("ours %.0f MB/s (seed %.2f + leech %.2f CPU-s), libtorrent %.0f MB/s (seed %.2f + leech %.2f CPU-s), %d MiB",
			ours.mbps, ours.seedCPU, ours.leechCPU, lt.MBps, lt.SeederCPU, lt.LeecherCPU, size>>20)
	}
}

type transferResult struct {
	mbps              float64
	seedCPU, leechCPU float64 // seconds of user+system CPU during the transfer
	seedRSS, leechRSS int64   // peak resident set, bytes
	elapsed           time.Duration
	bytes             int64
}

func ourTransfer(b *testing.B, btt, torrent, dataDir string) transferResult {
	b.Helper()
	addr := testutil.Addr("127.0.0.1", testutil.FreePort(b, "127.0.0.1"))
	seed := exec.Command(btt, "seed", torrent, "--data", dataDir, "--listen", addr, "--progress-interval", "1h")
	logPath := startBackground(b, seed)
	// The seeder is ready once it has checked its data and says so; its start-up is not part
	// of the transfer, so its CPU is sampled from here.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if out, _ := os.ReadFile(logPath); strings.Contains(string(out), "seeding ") {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("seeder did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	seedCPU0 := procCPU(b, seed.Process.Pid)
	out := b.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	dl := exec.CommandContext(ctx, btt, "download", torrent, "--data", out, "--peer", addr, "--progress-interval", "1h")
	if o, err := dl.CombinedOutput(); err != nil {
		b.Fatalf("btt download: %v\n%s", err, o)
	}
	elapsed := time.Since(start)
	seedCPU := procCPU(b, seed.Process.Pid) - seedCPU0
	seedRSS := procPeakRSS(b, seed.Process.Pid)
	ru := dl.ProcessState.SysUsage().(*syscall.Rusage)
	size := dirSize(b, out)
	return transferResult{
		mbps:     float64(size) / elapsed.Seconds() / 1e6,
		seedCPU:  seedCPU,
		leechCPU: tv(ru.Utime) + tv(ru.Stime),
		seedRSS:  seedRSS,
		leechRSS: ru.Maxrss << 10,
		elapsed:  elapsed,
		bytes:    size,
	}
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// procCPU returns the user+system CPU seconds of a running process from /proc.
func procCPU(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// procPeakRSS returns VmHWM of a running process.
func procPeakRSS(b *testing.B, pid int) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func dirSize(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, string(filepath.Separator)+".btt") {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
