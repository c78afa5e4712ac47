package peer

import (
	"fmt"
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/internal/ledgertest"
)

// BenchmarkMarketShares measures what a paid slot buys on loopback, as ratios within one
// run (no timed assertion). A Speed seeder capped at 4 MB/s sells 2 auctioned slots plus
// one optimistic; the leechers know only the seeder (no PEX, no tracker), so they do not
// trade with each other, and they pay through a ledger served in-process.
//
//   - bidders: three bidders (balances 1000, 500, 100 BTT, so the auto-bids differ) and two
//     legacy peers. top/legacy is the top bidder's download rate over a legacy peer's, summed
//     over the 250 ms sampling intervals in which both were downloading (the legacy peer then
//     holds the optimistic slot), leaving out the partial intervals at an unchoke or a choke. The send scheduler weighs a paid slot 4, a free one 1.
//   - no-bidders: five legacy peers. min/max is the lowest per-peer rate over the highest,
//     each summed over the intervals in which that peer and at least one other downloaded.
//
// Run it in a network namespace:
//
//	unshare -n sh -c 'ip link set lo up && exec go test ./peer -run ^$ -bench MarketShares -benchtime 1x'
func BenchmarkMarketShares(b *testing.B) {
	for range b.N {
		top, legacy := marketRates(b, []uint64{1000, 500, 100}, 2)
		b.ReportMetric(top/legacy, "top/legacy")
		b.ReportMetric(top/1e6, "top-MB/s")
		b.ReportMetric(legacy/1e6, "legacy-MB/s")
		lo, hi := noBidderRates(b, 5)
		b.ReportMetric(lo/hi, "no-bidders-min/max")
	}
}

// shareRun is one seeder and its leechers; sample returns each leecher's downloaded bytes.
type shareRun struct {
	leechers []*Torrent
}

func startShareRun(tb testing.TB, balances []uint64, legacy int) *shareRun {
	tb.Helper()
	led := ledgertest.Start(tb, nil, nil)
	url := led.URL
	dir := tb.TempDir()
	mi := writeTree(tb, dir, "shares", []int{96 << 20}, 256<<10, 41)
	sc := speedConfig(0, noReserve)
	sc.Wallet, sc.Ledger = led.Funded(tb, 0), url
	seeder := newConfiguredSession(tb, "127.0.0.1", Config{Speed: sc, Settings: Settings{
		UploadSlots: 2, UploadRateLimit: 4e6, RechokeInterval: time.Second, PEXInterval: time.Hour}})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		tb.Fatal(err)
	}
	r := &shareRun{}
	add := func(i int, cfg Config) {
		s := newConfiguredSession(tb, fmt.Sprintf("127.0.0.%d", 50+i), cfg)
		lt, err := s.AddTorrent(mi.Info, TorrentOptions{DataDir: tb.TempDir(), Peers: []string{seeder.Addr().String()}})
		if err != nil {
			tb.Fatal(err)
		}
		r.leechers = append(r.leechers, lt)
	}
	for i, bal := range balances {
		units := bal * bidext.UnitsPerBTT
		sc := speedConfig(units, noReserve)
		sc.Wallet, sc.Ledger = led.Funded(tb, units), url
		add(i, Config{Speed: sc, Settings: Settings{PEXInterval: time.Hour}})
	}
	for i := range legacy {
		add(len(balances)+i, Config{Settings: Settings{PEXInterval: time.Hour}})
	}
	return r
}

// deltas samples every leecher's download every step for the given time and returns the
// bytes each received in each interval.
func (r *shareRun) deltas(d, step time.Duration) [][]int64 {
	prev := make([]int64, len(r.leechers))
	for i, l := range r.leechers {
		prev[i] = l.Stats().Downloaded
	}
	var out [][]int64
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(step)
		row := make([]int64, len(r.leechers))
		for i, l := range r.leechers {
			n := l.Stats().Downloaded
			row[i], prev[i] = n-prev[i], n
		}
		out = append(out, row)
	}
	return out
}

// interior reports whether leecher i downloaded in interval k and in the intervals on both
// sides of it: an interval in which a peer was unchoked or choked is partial.
func interior(rows [][]int64, k, i int) bool {
	return k > 0 && k+1 < len(rows) && rows[k-1][i] > 0 && rows[k][i] > 0 && rows[k+1][i] > 0
}

// marketRates returns the top bidder's and the first legacy peer's rates (bytes per second)
// over the intervals in which both downloaded (interior ones).
func marketRates(tb testing.TB, balances []uint64, legacy int) (top, leg float64) {
	r := startShareRun(tb, balances, legacy)
	time.Sleep(3 * time.Second) // first rechokes, bids, channels
	const step = 250 * time.Millisecond
	var topB, legB int64
	n := 0
	rows := r.deltas(12*time.Second, step)
	for k := range rows {
		// Whichever legacy peer holds the optimistic slot, inside a run of intervals in
		// which both download (the edges of a run are partial intervals).
		for j := len(balances); j < len(rows[k]); j++ {
			if interior(rows, k, 0) && interior(rows, k, j) {
				topB += rows[k][0]
				legB += rows[k][j]
				n++
				break
			}
		}
	}
	if n == 0 || legB == 0 {
		tb.Fatal("the top bidder and a legacy peer never downloaded at the same time")
	}
	secs := float64(n) * step.Seconds()
	return float64(topB) / secs, float64(legB) / secs
}

// noBidderRates returns the lowest and highest per-peer rates among legacy peers, each over
// the intervals in which it and at least one other peer downloaded.
func noBidderRates(tb testing.TB, legacy int) (lo, hi float64) {
	r := startShareRun(tb, nil, legacy)
	time.Sleep(3 * time.Second)
	const step = 250 * time.Millisecond
	bytes := make([]int64, legacy)
	steps := make([]int, legacy)
	rows := r.deltas(12*time.Second, step)
	for k, row := range rows {
		active := 0
		for i := range row {
			if interior(rows, k, i) {
				active++
			}
		}
		if active < 2 {
			continue
		}
		for i, d := range row {
			if interior(rows, k, i) {
				bytes[i] += d
				steps[i]++
			}
		}
	}
	lo, hi = -1, 0
	for i := range bytes {
		if steps[i] == 0 {
			continue
		}
		rate := float64(bytes[i]) / (float64(steps[i]) * step.Seconds())
		if lo < 0 || rate < lo {
			lo = rate
		}
		hi = max(hi, rate)
	}
	if lo <= 0 {
		tb.Fatal("no two legacy peers downloaded at the same time")
	}
	return lo, hi
}
