package market

import (
	"reflect"
	"testing"
	"time"
)

// TestRunAccounts: the run is deterministic, every unit a requester paid is a provider's
// revenue, nobody pays above its budget, and no provider sends more than its capacity.
func TestRunAccounts(t *testing.T) {
	for seed := range uint64(4) {
		cfg := RandomMarket(4, seed)
		a, b := Run(cfg), Run(cfg)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two runs differ", seed)
		}
		var paid, revenue uint64
		var received, capacity float64
		for r, q := range cfg.Requesters {
			paid += a.Paid[r]
			received += a.Received[r]
			if a.Paid[r] > q.Budget {
				t.Errorf("seed %d: requester %d paid %d over its budget %d", seed, r, a.Paid[r], q.Budget)
			}
			if !q.Speed && a.Paid[r] != 0 {
				t.Errorf("seed %d: legacy requester %d paid %d", seed, r, a.Paid[r])
			}
		}
		for p, pv := range cfg.Providers {
			revenue += a.Revenue[p]
			capacity += pv.Upload * cfg.Horizon.Seconds()
		}
		if paid != revenue || paid == 0 {
			t.Errorf("seed %d: paid %d, revenue %d", seed, paid, revenue)
		}
		if received > capacity*1.000001 {
			t.Errorf("seed %d: received %.0f over the capacity %.0f", seed, received, capacity)
		}
	}
}

// TestDemoMarketWeights: in the demo's market, the two auction winners finish before the
// legacy peers, and raising the paid weight from 1 to 4 makes their lead larger: a paid
// slot buys more than a free one only when it weighs more.
func TestDemoMarketWeights(t *testing.T) {
	lead := func(w float64) float64 {
		rows := CompletionByRank([]Config{DemoMarket(w)})
		var top, legacy time.Duration
		for _, r := range rows {
			switch r.Rank {
			case 1:
				top = r.Mean
			case 0:
				legacy = r.Mean
			}
		}
		if top == 0 || legacy == 0 {
			t.Fatalf("weight %v: rows %+v", w, rows)
		}
		return legacy.Seconds() / top.Seconds()
	}
	l1, l4 := lead(1), lead(4)
	if l1 <= 1 || l4 <= l1*1.3 {
		t.Errorf("legacy/top completion: %.2f at weight 1, %.2f at weight 4", l1, l4)
	}
}

// TestBestResponseImproves: with the optimistic slot on, a heavier paid slot makes bidding
// one's value the best response more often, and never less often than not bidding.
func TestBestResponseImproves(t *testing.T) {
	r1 := BestResponse(1, 1, 40, 3)
	r4 := BestResponse(4, 1, 40, 3)
	if r4.TruthfulBest < r1.TruthfulBest || r4.NoBidBetter > r1.NoBidBetter {
		t.Errorf("weight 1: %+v; weight 4: %+v", r1, r4)
	}
	if r4.TruthfulBest < r4.Trials*9/10 {
		t.Errorf("weight 4: truthful best in %d of %d trials", r4.TruthfulBest, r4.Trials)
	}
}
