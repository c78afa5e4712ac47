package ledger_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/internal/testutil"
)

// TestFailStopDiskFull runs btt-ledger with a file size limit (RLIMIT_FSIZE, as `ulimit -f`
// does: the disk is "full" once the database reaches 256 KiB) and writes until a commit
// fails. The process must exit non-zero with a FATAL line naming the failed commit (not
// keep answering 503), and after a restart without the limit every acknowledged transfer
// must be there.
func TestFailStopDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btt-ledger; skipped in -short")
	}
	dir := t.TempDir()
	p := &ledgerProc{bin: testutil.BuildCmd(t, "btt-ledger"), db: filepath.Join(dir, "l.db"),
		addr: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")),
		wrap: []string{testutil.NeedTool(t, "prlimit"), "--fsize=262144"}}
	p.start(t)
	defer p.kill()
	tr, err := wallet.Load(p.db+".treasury.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := ledger.NewClient("http://"+p.addr, &http.Client{Timeout: 10 * time.Second})
	id, err := c.LedgerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dst := key(t, 1).Address()
	acked := uint64(0)
	start := ledger.NonceAt(time.Now()) &^ (1<<32 - 1)
	for nonce := start; ; {
		ops := make([]ledger.BatchOp, 64)
		for i := range ops {
			tx := &ledger.TransferRequest{To: dst, Amount: 1, Nonce: ledger.U64(nonce)}
			tx.Sign(id, tr)
			ops[i] = ledger.BatchOp{Transfer: tx}
			nonce++
		}
		res, err := c.Batch(ctx, ops)
		if err != nil {
			break // the process is gone
		}
		failed := false
		for _, r := range res {
			if r.Err() == nil {
				acked++
			} else {
				failed = true
			}
		}
		if failed || nonce-start > 100_000 {
			break
		}
	}
	log := p.waitExit(t, 30*time.Second)
	if p.err == nil || !strings.Contains(log, "FATAL: writer stopped") || !strings.Contains(log, "commit") {
		t.Fatalf("after a failed commit: exit %v, log:\n%s", p.err, log)
	}
	t.Logf("%d transfers acknowledged before the disk filled; exit %v; %s", acked, p.err,
		strings.TrimSpace(log[strings.Index(log, "btt-ledger: FATAL"):]))
	p.wrap = nil
	p.start(t)
	// The failed batch was not committed; only one whose answer was lost might have been.
	if acc, err := c.Balance(ctx, dst); err != nil || uint64(acc.Balance) < acked || uint64(acc.Balance) > acked+64 {
		t.Fatalf("after restart: balance %d (%v), %d transfers acknowledged", acc.Balance, err, acked)
	}
	if in, err := c.Info(ctx); err != nil || in.Total != in.Supply {
		t.Fatalf("after restart: %+v, %v", in, err)
	}
}

// TestFailStopPostgresReadOnly turns the database read-only under a running writer (as an
// operator or a full disk would): the next commit fails, and the writer must exit non-zero
// with a FATAL line; once the database is writable again a restart finds every
// acknowledged transfer.
func TestFailStopPostgresReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and btt-ledger; skipped in -short")
	}
	pg := testutil.StartPostgres(t)
	p := &ledgerProc{bin: testutil.BuildCmd(t, "btt-ledger"), db: pg.URL, treasury: filepath.Join(t.TempDir(), "treasury.json"),
		addr: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))}
	p.start(t)
	defer p.kill()
	tr, err := wallet.Load(p.treasury, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := ledger.NewClient("http://"+p.addr, &http.Client{Timeout: 10 * time.Second})
	dst := key(t, 1).Address()
	for range 20 {
		if _, err := c.Transfer(ctx, tr, dst, 1); err != nil {
			t.Fatal(err)
		}
	}
	pg.SQL(t, `ALTER SYSTEM SET default_transaction_read_only = on`)
	pg.SQL(t, `SELECT pg_reload_conf()`)
	// Existing sessions take the new default at their next command, so the first
	// transfer may still go through; one soon fails.
	var lastErr error
	for i := 0; i < 200 && lastErr == nil; i++ {
		_, lastErr = c.Transfer(ctx, tr, dst, 1)
	}
	log := p.waitExit(t, 30*time.Second)
	if p.err == nil || !strings.Contains(log, "FATAL: writer stopped") || !strings.Contains(log, "read-only") {
		t.Fatalf("after the database turned read-only: exit %v (last answer %v), log:\n%s", p.err, lastErr, log)
	}
	t.Logf("exit %v; %s", p.err, strings.TrimSpace(log[strings.Index(log, "btt-ledger: FATAL"):]))
	pg.SQL(t, `ALTER SYSTEM RESET default_transaction_read_only`)
	pg.SQL(t, `SELECT pg_reload_conf()`)
	p.start(t)
	if acc, err := c.Balance(ctx, dst); err != nil || acc.Balance < 20 {
		t.Fatalf("after restart: %+v, %v", acc, err)
	}
	if in, err := c.Info(ctx); err != nil || in.Total != in.Supply {
		t.Fatalf("after restart: %+v, %v", in, err)
	}
}
