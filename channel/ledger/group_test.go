package ledger_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/speedbt/btt/channel/ledger"
)

// TestGroupCommit checks that concurrent operations share commits: with 64 transfers in
// flight at once, there must be fewer commits than operations, and every transfer must be
// applied.
func TestGroupCommit(t *testing.T) {
	tl := startLedger(t, filepath.Join(t.TempDir(), "l.db"))
	ctx := context.Background()
	dst := key(t, 1).Address()
	const n = 64
	ops := make([]ledger.Transfer, n)
	for i := range ops {
		ops[i] = transferOpOn(tl.id, tl.treasury, dst, 1, uint64(i))
	}
	before := tl.l.Stats()
	var wg sync.WaitGroup
	for i := range ops {
		wg.Go(func() {
			if _, err := tl.l.Do(ctx, ops[i]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	after := tl.l.Stats()
	commits := after.Commits - before.Commits
	if commits >= n || commits == 0 {
		t.Fatalf("%d transfers took %d commits; want fewer (group commit)", n, commits)
	}
	if acc, _ := tl.c.Balance(ctx, dst); acc.Balance != n {
		t.Fatalf("balance %d, want %d", acc.Balance, n)
	}
	t.Logf("%d transfers in %d commits (largest batch %d)", n, commits, after.MaxBatchSeen)
}
