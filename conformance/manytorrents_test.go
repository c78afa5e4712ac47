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
// BTT_BENCH_TORRENTS sets the count (default 1000); the run lasts about 50 s, most of it
// waiting for the re-announces. BTT_BENCH_REF_SEEDER names another btt-seeder binary (an
// older build, say) to run the same way right after, for ratios measured in the same run;
// it starts with the resume files the first left, so its start-up is not comparable.
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

	ref := os.Getenv("BTT_BENCH_REF_SEEDER")
	for b.Loop() {
		r := runThousandTorrents(b, seeder, dir, infos, tr)
		r.report(b, "")
		if ref != "" {
			rr := runThousandTorrents(b, ref, dir, infos, tr)
			rr.report(b, "ref-")
			b.ReportMetric(r.idleRSS/rr.idleRSS, "idle-RSS/ref")
			b.Logf("idle RSS %.1f MiB against the reference binary's %.1f MiB in the same run: %.2fx", r.idleRSS, rr.idleRSS, r.idleRSS/rr.idleRSS)
		}
	}
}

// thousandResult is one btt-seeder's run of BenchmarkSeederThousandTorrents.
type thousandResult struct {
	n                        int
	startup                  time.Duration
	idleRSS, peakRSS, total  float64 // MiB, MiB, MB/s
	first, second, announces []time.Duration
}

func (r thousandResult) report(b *testing.B, prefix string) {
	b.ReportMetric(r.startup.Seconds(), prefix+"startup-s")
	b.ReportMetric(r.idleRSS, prefix+"idle-RSS-MiB")
	b.ReportMetric(r.peakRSS, prefix+"serving100-RSS-MiB")
	b.ReportMetric(r.total, prefix+"serving100-MB/s")
	b.ReportMetric(float64(len(r.first)), prefix+"announces-wave1")
	b.ReportMetric(spread(r.first).Seconds(), prefix+"wave1-spread-s")
	b.ReportMetric(float64(len(r.second)), prefix+"announces-wave2")
	b.ReportMetric(spread(r.second).Seconds(), prefix+"wave2-spread-s")
	b.ReportMetric(float64(peakPerSecond(r.announces)), prefix+"announces-peak/s")
	met := "met"
	if r.idleRSS > idleRSSGoal>>20 {
		met = "NOT met"
	}
	b.Logf("%s%d torrents: serving all after %.2f s; idle RSS %.1f MiB (goal <= %d MiB: %s); RSS %.1f MiB serving %d at once (%.0f MB/s in all)",
		prefix, r.n, r.startup.Seconds(), r.idleRSS, idleRSSGoal>>20, met, r.peakRSS, min(thousandActive, r.n), r.total)
	b.Logf("%sannounces: %d in the first wave over %.2f s, %d re-announces over %.2f s, peak %d in one second; per second: %v",
		prefix, len(r.first), spread(r.first).Seconds(), len(r.second), spread(r.second).Seconds(), peakPerSecond(r.announces), perSecond(r.announces))
}

// thousandActive is how many of the torrents are downloaded at once.
const thousandActive = 100

// runThousandTorrents runs the seeder binary over dir's torrents once and measures it.
func runThousandTorrents(b *testing.B, seeder, dir string, infos []*metainfo.Info, tr *recordingTracker) thousandResult {
	n := len(infos)
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
	const active = thousandActive
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
	wait := time.Until(start.Add(trackerInterval + 15*time.Second))
	time.Sleep(wait)
	times := tr.since(start)
	first, second := splitWaves(times, trackerInterval*3/4)

	cmd.Process.Kill()
	cmd.Wait()
	return thousandResult{n: n, startup: startup, idleRSS: float64(idleRSS) / (1 << 20), peakRSS: float64(peakRSS) / (1 << 20),
		total: total, first: first, second: second, announces: times}
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
