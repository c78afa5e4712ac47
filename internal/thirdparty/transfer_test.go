package thirdparty

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkLibtorrentTransfer reports libtorrent -> libtorrent loopback speed
// and CPU, the yardstick for our own client. Size defaults to 64 MiB; set
// BTT_LT_BENCH_MIB (e.g. 256). Run inside a network namespace:
//
//	go test -c -o /tmp/tp.test ./internal/thirdparty/
//	unshare -n sh -c 'ip link set lo up && exec /tmp/tp.test -test.run ^$ -test.bench LibtorrentTransfer -test.benchtime 3x'
func BenchmarkLibtorrentTransfer(b *testing.B) {
	mib := int64(64)
	if s := os.Getenv("BTT_LT_BENCH_MIB"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			b.Fatalf("BTT_LT_BENCH_MIB=%q: want a positive integer", s)
		}
		mib = v
	}
	for _, utp := range []bool{false, true} {
		name := map[bool]string{false: "tcp", true: "utp"}[utp]
		for _, pl := range []int{256 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("%s/%dMiB/piece=%dKiB", name, mib, pl>>10), func(b *testing.B) {
				var mbps, scpu, lcpu float64
				for i := 0; i < b.N; i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					r := LibtorrentTransfer(b, ctx, TransferConfig{Size: mib << 20, PieceLen: pl, UTP: utp})
					cancel()
					b.Logf("%s: %.0f MB/s in %v, CPU seeder %.2fs leecher %.2fs", name, r.MBps, r.Elapsed, r.SeederCPU, r.LeecherCPU)
					mbps += r.MBps
					scpu += r.SeederCPU
					lcpu += r.LeecherCPU
				}
				n := float64(b.N)
				b.ReportMetric(mbps/n, "MB/s")
				b.ReportMetric(scpu/n, "seed-cpu-s")
				b.ReportMetric(lcpu/n, "leech-cpu-s")
			})
		}
	}
}

func TestLibtorrentTransferSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := LibtorrentTransfer(t, ctx, TransferConfig{Size: 8 << 20, PieceLen: 256 << 10, UTP: true})
	t.Logf("8 MiB over uTP: %.1f MB/s in %v, CPU seeder %.2fs leecher %.2fs", r.MBps, r.Elapsed, r.SeederCPU, r.LeecherCPU)
	if r.Bytes != 8<<20 || r.Elapsed <= 0 || r.LeecherCPU <= 0 {
		t.Errorf("implausible result %+v", r)
	}
}
