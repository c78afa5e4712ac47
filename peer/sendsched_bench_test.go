package peer

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/speedbt/btt/wire/metainfo"
)

// BenchmarkSendPath measures the CPU cost of the weighted send path against the plain one
// (no scheduler, blocks written as they come), at full loopback speed, in the same run:
// one seeder, three leechers, no upload limit, so the writers contend for the scheduler's
// turn on every block. Each iteration downloads the torrent once with each path, in
// alternating order. CPU is the whole process's (seeder and leechers), so the difference
// between the two is the scheduler's. Run it in a network namespace:
//
//	unshare -n sh -c 'ip link set lo up && exec go test ./peer -run ^$ -bench SendPath -benchtime 2x'
//
// BTT_BENCH_MIB sets the torrent size (default 64).
func BenchmarkSendPath(b *testing.B) {
	mib := 64
	if v, err := strconv.Atoi(os.Getenv("BTT_BENCH_MIB")); err == nil && v > 0 {
		mib = v
	}
	dir := b.TempDir()
	mi := writeTree(b, dir, "bench", []int{mib << 20}, 256<<10, 7)
	b.ResetTimer()
	total := map[bool]struct{ cpu, wall time.Duration }{}
	for i := range b.N {
		for j := range 2 {
			weighted := (i+j)%2 == 0
			cpu, wall := runSendPath(b, dir, mi.Info, weighted)
			t := total[weighted]
			t.cpu += cpu
			t.wall += wall
			total[weighted] = t
		}
	}
	gib := float64(b.N) * 3 * float64(mib) / 1024 // three leechers each download the torrent
	w, p := total[true], total[false]
	b.ReportMetric(w.cpu.Seconds()/gib, "weighted-CPU-s/GiB")
	b.ReportMetric(p.cpu.Seconds()/gib, "plain-CPU-s/GiB")
	b.ReportMetric(w.cpu.Seconds()/p.cpu.Seconds(), "CPU-weighted/plain")
	b.ReportMetric(gib*1024/w.wall.Seconds(), "weighted-MiB/s")
	b.ReportMetric(gib*1024/p.wall.Seconds(), "plain-MiB/s")
}

// runSendPath seeds info from dir to three fresh leechers at once and returns the process
// CPU and the wall time until all three completed.
func runSendPath(b *testing.B, dir string, info *metainfo.Info, weighted bool) (cpu, wall time.Duration) {
	b.Helper()
	seeder, err := NewSession(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer seeder.Close()
	if !weighted {
		seeder.sched.stop()
		seeder.sched = nil // the plain path: blocks go to the kernel as they come
	}
	if _, err := seeder.AddTorrent(info, TorrentOptions{DataDir: dir}); err != nil {
		b.Fatal(err)
	}
	leechers := make([]*Torrent, 3)
	start, cpu0 := time.Now(), processCPU()
	for i := range leechers {
		s, err := NewSession(Config{Listen: fmt.Sprintf("127.0.0.%d:0", 40+i)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		lt, err := s.AddTorrent(info, TorrentOptions{DataDir: b.TempDir(), Peers: []string{seeder.Addr().String()}})
		if err != nil {
			b.Fatal(err)
		}
		leechers[i] = lt
	}
	for _, lt := range leechers {
		waitComplete(b, lt, 5*time.Minute)
	}
	return processCPU() - cpu0, time.Since(start)
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(fmt.Sprint("getrusage: ", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
