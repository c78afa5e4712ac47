package conformance

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/bench"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/wire/metainfo"
)

// idleRSSGoal is issue 16's goal for btt-seeder holding 1,000 idle torrents.
const idleRSSGoal = 40 << 20

// BenchmarkSeederThousandTorrents: btt-seeder with 1,000 torrents (256 KiB each, 64 KiB
// pieces, on tmpfs), each listing one HTTP tracker that records when it is announced to.
// Reports the start-up time (process start to the 1,000th "serving" line, hash checks
// included), idle RSS once every torrent is served, how the announces spread over time
// (the first wave, and the re-announces at the tracker's 30 s interval), and RSS while
// 100 of the torrents are downloaded at once (one lightweight downloader each).
//
//	unshare -n sh -c 'ip link set lo up && exec go test ./conformance -run ^$ -bench SeederThousandTorrents -benchtime 1x'
//
// BTT_BENCH_TORRENTS sets the count (default 1000); the run lasts about 45 s, most of it
// waiting for the re-announces.
func BenchmarkSeederThousandTorrents(b *testing.B) {
	n := envInt("BTT_BENCH_TORRENTS", 1000)
	seeder := testutil.BuildCmd(b, "btt-seeder")
	dir, _, err := bench.WorkDir(int64(n) * 256 << 10)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })

	tr := startRecordingTracker(b)
	infos := make([]*metainfo.Info, n)
	for i := range n {
		p, err := bench.MakePayload(context.Background(), dir, fmt.Sprintf("t%04d.bin", i), 256<<10, 64<<10)
		if err != nil {
			b.Fatal(err)
		}
		// Remake the torrent with the tracker in it (MakePayload's has none).
		mi, err := metainfo.Create(context.Background(), filepath.Join(dir, p.Name), metainfo.CreateOptions{
			PieceLength: 64 << 10, Trackers: [][]string{{tr.url}}, CreatedBy: "btt bench"})
		if err != nil {
			b.Fatal(err)
		}
		raw, err := mi.Encode()
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p.Torrent, raw, 0o644); err != nil {
			b.Fatal(err)
		}
		infos[i] = mi.Info
	}

	for b.Loop() {
		tr.reset()
		addr := testutil.Addr("127.0.0.1", testutil.FreePort(b, "127.0.0.1"))
		cmd := exec.Command(seeder, "--dir", dir, "--listen", addr)
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		served := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			count := 0
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "serving ") {
					if count++; count == n {
						close(served)
					}
				}
			}
		}()
		select {
		case <-served:
		case <-time.After(5 * time.Minute):
			b.Fatalf("btt-seeder did not serve %d torrents in 5 minutes", n)
		}
		startup := time.Since(start)
		pid := cmd.Process.Pid

		// Idle: every torrent served, nobody connected; the first wave of announces passes.
		time.Sleep(3 * time.Second)
		idleRSS, _, err := bench.ProcMem(pid)
		if err != nil {
			b.Fatal(err)
		}

		// 100 torrents downloaded at once, one downloader each, while RSS is sampled.
		const active = 100
		var wg sync.WaitGroup
		var mu sync.Mutex
		var total float64
		var peakRSS int64
		for i := range min(active, n) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg := bench.ConnectConfig{Info: infos[i*n/active], Addr: addr, Peers: 1, Duration: 5 * time.Second,
					SourceIP: func(int) string { return fmt.Sprintf("127.0.2.%d", 1+i) }}
				if i == 0 {
					cfg.SeederPID = pid // one of them samples the seeder for the whole window
				}
				r, err := bench.Connect(context.Background(), cfg)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				total += r.MBps
				if r.Seeder != nil {
					peakRSS = r.Seeder.RSS
				}
				mu.Unlock()
			}()
		}
		wg.Wait()

		// Re-announces come at the tracker's interval (30 s) after each torrent's first.
		wait := time.Until(start.Add(trackerInterval + 10*time.Second))
		time.Sleep(wait)
		times := tr.since(start)
		first, second := splitWaves(times, trackerInterval*3/4)

		b.ReportMetric(startup.Seconds(), "startup-s")
		b.ReportMetric(float64(idleRSS)/(1<<20), "idle-RSS-MiB")
		b.ReportMetric(float64(peakRSS)/(1<<20), "serving100-RSS-MiB")
		b.ReportMetric(total, "serving100-MB/s")
		b.ReportMetric(float64(len(first)), "announces-wave1")
		b.ReportMetric(spread(first).Seconds(), "wave1-spread-s")
		b.ReportMetric(float64(len(second)), "announces-wave2")
		b.ReportMetric(spread(second).Seconds(), "wave2-spread-s")
		b.ReportMetric(float64(peakPerSecond(times)), "announces-peak/s")
		met := "met"
		if idleRSS > idleRSSGoal {
			met = "NOT met"
		}
		b.Logf("%d torrents: serving all after %.2f s; idle RSS %.1f MiB (goal <= %d MiB: %s); RSS %.1f MiB serving %d at once (%.0f MB/s in all)",
			n, startup.Seconds(), float64(idleRSS)/(1<<20), idleRSSGoal>>20, met, float64(peakRSS)/(1<<20), active, total)
		b.Logf("announces: %d in the first wave over %.2f s, %d re-announces over %.2f s, peak %d in one second; per second: %v",
			len(first), spread(first).Seconds(), len(second), spread(second).Seconds(), peakPerSecond(times), perSecond(times))
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// trackerInterval is what the recording tracker tells clients; our client never
// re-announces more often than every 30 s (peer/tracker/tier.go), so this is the shortest
// interval that shows the second wave.
const trackerInterval = 30 * time.Second

// recordingTracker answers HTTP announces with no peers and notes when each came.
type recordingTracker struct {
	url   string
	mu    sync.Mutex
	times []time.Time
}

func startRecordingTracker(b *testing.B) *recordingTracker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	tr := &recordingTracker{url: "http://" + ln.Addr().String() + "/announce"}
	body := fmt.Sprintf("d8:intervali%de5:peers0:e", int(trackerInterval.Seconds()))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.times = append(tr.times, time.Now())
		tr.mu.Unlock()
		w.Write([]byte(body))
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return tr
}

func (tr *recordingTracker) reset() {
	tr.mu.Lock()
	tr.times = nil
	tr.mu.Unlock()
}

// since returns the announce times as offsets from start, in order.
func (tr *recordingTracker) since(start time.Time) []time.Duration {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]time.Duration, len(tr.times))
	for i, t := range tr.times {
		out[i] = t.Sub(start)
	}
	slices.Sort(out)
	return out
}

// splitWaves splits sorted offsets at cut: the first announces, then the re-announces.
func splitWaves(ts []time.Duration, cut time.Duration) (first, second []time.Duration) {
	i, _ := slices.BinarySearch(ts, cut)
	return ts[:i], ts[i:]
}

func spread(ts []time.Duration) time.Duration {
	if len(ts) == 0 {
		return 0
	}
	return ts[len(ts)-1] - ts[0]
}

// perSecond counts announces in each whole second from the start, up to the last.
func perSecond(ts []time.Duration) []int {
	if len(ts) == 0 {
		return nil
	}
	out := make([]int, int(ts[len(ts)-1]/time.Second)+1)
	for _, t := range ts {
		out[int(t/time.Second)]++
	}
	return out
}

func peakPerSecond(ts []time.Duration) int {
	ps := perSecond(ts)
	if len(ps) == 0 {
		return 0
	}
	return slices.Max(ps)
}
