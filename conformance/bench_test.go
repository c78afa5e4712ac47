package conformance

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/speedbt/btt/internal/bench"
	"github.com/speedbt/btt/internal/testutil"
)

// BenchmarkTransferTCP moves one torrent over loopback TCP from a seeder to a leecher, ours
// (btt seed -> btt download, separate processes) and libtorrent's, in the same run, and
// reports MB/s, CPU seconds per GiB of each side, peak memory, and the ratios. It is the
// measurement `btt bench transfer --libtorrent` makes (internal/bench), as a Go benchmark.
//
//	unshare -n sh -c 'ip link set lo up && exec go test ./conformance -run ^$ -bench TransferTCP -benchtime 1x'
//
// BTT_BENCH_MIB sets the size (default 1024); BTT_BENCH_PIECE the piece length (default 256 KiB).
func BenchmarkTransferTCP(b *testing.B) {
	testutil.NeedLibtorrent(b)
	size := int64(envInt("BTT_BENCH_MIB", 1024)) << 20
	pieceLen := int64(envInt("BTT_BENCH_PIECE", 256<<10))
	btt := testutil.BuildCmd(b, "btt")
	dir, _, err := bench.WorkDir(3 * size)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	ctx := context.Background()
	p, err := bench.MakePayload(ctx, dir, "payload.bin", size, pieceLen)
	if err != nil {
		b.Fatal(err)
	}
	cfg := bench.TransferConfig{Btt: btt, Size: size, PieceLen: pieceLen, Dir: dir}
	for b.Loop() {
		ours, err := bench.Transfer(ctx, cfg, p)
		if err != nil {
			b.Fatal(err)
		}
		lt, err := bench.LibtorrentTransfer(ctx, cfg, p)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ours.MBps, "ours-MB/s")
		b.ReportMetric(lt.MBps, "lt-MB/s")
		b.ReportMetric(ours.MBps/lt.MBps, "speed-ratio")
		b.ReportMetric(ours.Seeder.CPUPerGiB, "ours-seed-cpu-s/GiB")
		b.ReportMetric(ours.Leecher.CPUPerGiB, "ours-leech-cpu-s/GiB")
		b.ReportMetric(lt.Seeder.CPUPerGiB, "lt-seed-cpu-s/GiB")
		b.ReportMetric(lt.Leecher.CPUPerGiB, "lt-leech-cpu-s/GiB")
		b.ReportMetric((ours.Seeder.CPUSeconds+ours.Leecher.CPUSeconds)/(lt.Seeder.CPUSeconds+lt.Leecher.CPUSeconds), "cpu-ratio")
		b.ReportMetric(float64(ours.Seeder.PeakRSS)/(1<<20), "ours-seed-peakRSS-MiB")
		b.ReportMetric(float64(ours.Leecher.PeakRSS)/(1<<20), "ours-leech-peakRSS-MiB")
		b.ReportMetric(float64(lt.Seeder.PeakAnon)/(1<<20), "lt-seed-peakAnon-MiB")
		b.ReportMetric(float64(lt.Leecher.PeakAnon)/(1<<20), "lt-leech-peakAnon-MiB")
		b.Logf("ours %.0f MB/s (seed %.2f + leech %.2f CPU-s), libtorrent %.0f MB/s (seed %.2f + leech %.2f CPU-s), %d MiB",
			ours.MBps, ours.Seeder.CPUSeconds, ours.Leecher.CPUSeconds, lt.MBps, lt.Seeder.CPUSeconds, lt.Leecher.CPUSeconds, size>>20)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
