package conformance

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/bench"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
)

// connBudget is the memory one more connection may cost our seeder, as growth of its
// anonymous memory (RssAnon) over the run divided by the connections. What a connection holds is bounded in code: the read-ahead
// (Settings.ReadBufferSize, 16 KiB, peer/settings.go, used by conn.reader in peer/conn.go),
// the write buffer (64 KiB, conn.writer in peer/conn.go), at most Settings.MaxPeerRequests
// (500) queued requests, and its goroutines' stacks; 256 KiB leaves room for the allocator's
// rounding and for pooled block buffers in flight. Memory, unlike time, does not depend on
// how loaded the machine is, so it is asserted.
const connBudget = 256 << 10

// utpConnBudget is what a uTP connection holds beyond connBudget: its send queue
// (utp.Config.WriteBuffer) and its receive window (utp.Config.ReadBuffer), 1 MiB each by
// default (peer/utp/socket.go, withDefaults), enforced by Conn.Write blocking when the
// queue is full and by the window it advertises. Over TCP the kernel holds these bytes,
// outside our RSS.
const utpConnBudget = 2 << 20

// BenchmarkOneSeederManyPeers: one seeder serving 50 and 200 concurrent lightweight
// downloaders (internal/bench, no disk writes), each from its own 127.0.1.x address, over
// TCP and uTP: ours (a `btt seed` process) and libtorrent's seeder serving the same
// downloaders in the same run. Every downloader is unchoked at both (ours with --slots N;
// libtorrent never chokes loopback peers, its "local" class), so what is measured is how
// the seeder shares its upload, not its choking policy. Reports aggregate upload, per-peer
// min/max and Jain's fairness index, request latency, the seeder's CPU per GiB, and its
// memory per connection (growth of anonymous memory / N: libtorrent maps the file it
// serves, so its RSS also counts the payload's page cache).
//
//	unshare -n sh -c 'ip link set lo up && exec go test ./conformance -run ^$ -bench OneSeederManyPeers -benchtime 1x'
//
// BTT_BENCH_SECONDS sets each run's length (default 10).
func BenchmarkOneSeederManyPeers(b *testing.B) {
	testutil.NeedLibtorrent(b)
	btt := testutil.BuildCmd(b, "btt")
	secs := envInt("BTT_BENCH_SECONDS", 10)
	p, err := bench.MakePayload(context.Background(), b.TempDir(), "many.bin", 64<<20, 256<<10)
	if err != nil {
		b.Fatal(err)
	}
	for _, transport := range []string{"tcp", "utp"} {
		for _, n := range []int{50, 200} {
			b.Run(fmt.Sprintf("%s/peers=%d", transport, n), func(b *testing.B) {
				for b.Loop() {
					ours := ourManyPeers(b, btt, p, transport, n, secs)
					lt := ltManyPeers(b, p, transport, n, secs)
					reportMany(b, "ours", ours, n)
					reportMany(b, "lt", lt, n)
					b.ReportMetric(ours.MBps/lt.MBps, "speed-ratio")
					budget := connBudget
					if transport == "utp" {
						budget += utpConnBudget
					}
					if perConn := float64(ours.Seeder.Anon-ours.Seeder.Anon0) / float64(n); perConn > float64(budget) {
						b.Errorf("our seeder grew %.0f KiB per connection, budget %d KiB", perConn/1024, budget>>10)
					}
				}
			})
		}
	}
}

// manyResult is a connection-tester run with the seeder's RSS before it.
type manyResult struct {
	*bench.ConnectResult
	rss0 int64
}

func manyConfig(p *bench.Payload, addr, transport string, n, secs, pid int) bench.ConnectConfig {
	return bench.ConnectConfig{
		Info: p.Info, Addr: addr, Peers: n, Duration: time.Duration(secs) * time.Second,
		UTP: transport == "utp", SeederPID: pid,
		SourceIP: func(i int) string { return "127.0.1." + strconv.Itoa(1+i) },
	}
}

func ourManyPeers(b *testing.B, btt string, p *bench.Payload, transport string, n, secs int) manyResult {
	b.Helper()
	ctx := context.Background()
	s, err := bench.StartSeeder(ctx, btt, []string{"seed", p.Torrent, "--data", p.Dir, "--listen", "127.0.0.1:0",
		"--transport", transport, "--slots", strconv.Itoa(n), "--max-peers", strconv.Itoa(n + 10), "--progress-interval", "1h"}, os.Stderr)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	return connectMany(b, manyConfig(p, s.Addr, transport, n, secs, s.PID()))
}

func ltManyPeers(b *testing.B, p *bench.Payload, transport string, n, secs int) manyResult {
	b.Helper()
	lt := thirdparty.StartLibtorrent(b, thirdparty.LTConfig{
		Listen:   testutil.Addr("127.0.0.2", testutil.FreePort(b, "127.0.0.2")),
		Torrent:  p.Torrent,
		SavePath: p.Dir,
		Seed:     true,
		TCP:      transport == "tcp",
		UTP:      transport == "utp",
		// As in every libtorrent transfer we compare with: its uTP needs 4 MiB on loopback.
		SocketBuffers: 4 << 20,
		// Its listen backlog defaults to 5: a burst of N connects would overflow it and
		// wait out SYN retransmissions (seen: 65 of 200 connected within 10 s).
		Settings: map[string]any{"connections_limit": n + 100, "listen_queue_size": n + 100},
	})
	defer lt.Stop()
	if err := lt.WaitSeeding(context.Background()); err != nil {
		b.Fatal(err)
	}
	pid, err := bench.FindListener(lt.Addr())
	if err != nil {
		b.Fatal(err)
	}
	return connectMany(b, manyConfig(p, lt.Addr(), transport, n, secs, pid))
}

func connectMany(b *testing.B, cfg bench.ConnectConfig) manyResult {
	b.Helper()
	rss0, _, err := bench.ProcMem(cfg.SeederPID)
	if err != nil {
		b.Fatal(err)
	}
	r, err := bench.Connect(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if r.Connected != cfg.Peers {
		b.Errorf("%s: %d of %d downloaders connected", cfg.Addr, r.Connected, cfg.Peers)
	}
	return manyResult{r, rss0}
}

func reportMany(b *testing.B, who string, r manyResult, n int) {
	b.ReportMetric(r.MBps, who+"-MB/s")
	b.ReportMetric(r.PeerMin, who+"-peer-min-MB/s")
	b.ReportMetric(r.PeerMax, who+"-peer-max-MB/s")
	b.ReportMetric(r.Jain, who+"-jain")
	b.ReportMetric(r.P99ms, who+"-p99-ms")
	b.ReportMetric(r.Seeder.CPUPerGiB, who+"-seed-cpu-s/GiB")
	b.ReportMetric(float64(r.Seeder.RSS)/(1<<20), who+"-seed-RSS-MiB")
	b.ReportMetric(float64(r.Seeder.Anon-r.Seeder.Anon0)/float64(n)/1024, who+"-KiB/conn")
	b.Logf("%s: %d/%d connected, %.0f MB/s, per peer %.2f..%.2f MB/s, Jain %.3f, latency p50 %.1f p99 %.1f ms, seeder %.2f CPU-s/GiB, RSS %.1f -> %.1f MiB, anonymous %.1f -> %.1f MiB",
		who, r.Connected, n, r.MBps, r.PeerMin, r.PeerMax, r.Jain, r.P50ms, r.P99ms, r.Seeder.CPUPerGiB,
		float64(r.rss0)/(1<<20), float64(r.Seeder.RSS)/(1<<20), float64(r.Seeder.Anon0)/(1<<20), float64(r.Seeder.Anon)/(1<<20))
}
