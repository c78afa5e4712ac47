package market

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReport prints the tables of docs/speed-market.md, checking that top bidders finish
// before legacy peers at every weight (go test -v -run Report
// ./internal/market; BTT_MARKET_TRIALS sets the best-response trials, default 60).
func TestReport(t *testing.T) {
	trials := 60
	if v := os.Getenv("BTT_MARKET_TRIALS"); v != "" {
		fmt.Sscan(v, &trials)
	}
	var b strings.Builder
	for _, w := range []float64{1, 2, 4, 8} {
		fmt.Fprintf(&b, "weight %v, demo market:", w)
		for _, row := range CompletionByRank([]Config{DemoMarket(w)}) {
			fmt.Fprintf(&b, "  rank %d %v (paid %.2f)", row.Rank, row.Mean.Round(time.Second), row.Paid)
		}
		b.WriteString("\n")
		var cfgs []Config
		for s := range uint64(8) {
			cfgs = append(cfgs, RandomMarket(w, s))
		}
		fmt.Fprintf(&b, "weight %v, random markets:", w)
		rows := CompletionByRank(cfgs)
		if top, legacy := rows[0], rows[len(rows)-1]; top.Rank != 1 || legacy.Rank != 0 || top.Mean >= legacy.Mean {
			t.Errorf("weight %v: top bidders %+v, legacy %+v", w, top, legacy)
		}
		for _, row := range rows {
			if row.Rank <= 5 || row.Rank == 0 {
				fmt.Fprintf(&b, "  rank %d %v (paid %.2f, n %d)", row.Rank, row.Mean.Round(time.Second), row.Paid, row.Trials)
			}
		}
		b.WriteString("\n")
		for _, opt := range []int{0, 1} {
			r := BestResponse(w, opt, trials, 1)
			fmt.Fprintf(&b, "weight %v, optimistic %d: truthful best %d/%d, no bid better %d/%d, revenue %.1f BTT\n",
				w, opt, r.TruthfulBest, r.Trials, r.NoBidBetter, r.Trials, r.Revenue)
		}
	}
	t.Log("\n" + b.String())
}
