package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/internal/testutil"
)

// TestFailover runs two btt-ledger processes on one real PostgreSQL database under
// conflicting load (two workers spending from each account at once, often more than it
// holds) through clients that know both URLs. The writer is SIGKILLed mid-load, twice (the
// first writer comes back as a standby and takes over again): the standby must take over,
// no acknowledged transfer may be lost or applied twice (balances equal a model in which
// every acknowledged transfer applied once and every refused one not at all), and every
// acknowledged answer replays byte for byte.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two ledgers; skipped in -short")
	}
	pg := testutil.StartPostgres(t)
	bin := testutil.BuildCmd(t, "btt-ledger")
	trPath := filepath.Join(t.TempDir(), "treasury.json")
	procs := [2]*ledgerProc{}
	for i := range procs {
		procs[i] = &ledgerProc{bin: bin, db: pg.URL, treasury: trPath, addr: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))}
	}
	procs[0].start(t) // the first is elected and creates the genesis
	defer procs[0].kill()
	procs[1].start(t)
	defer procs[1].kill()
	urls := "http://" + procs[0].addr + ",http://" + procs[1].addr

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hc := &http.Client{Timeout: 10 * time.Second}
	standby := ledger.NewClient("http://"+procs[1].addr, hc)
	lc := ledger.NewClient(urls, hc)
	tr, err := wallet.Load(trPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The standby serves reads and refuses writes, which sends clients to the writer.
	if _, err := standby.Info(ctx); err != nil {
		t.Fatalf("standby read: %v", err)
	}
	if _, err := standby.Transfer(ctx, tr, key(t, 1).Address(), 1); !errors.Is(err, ledger.ErrNotWriter) {
		t.Fatalf("write to the standby: %v, want ErrNotWriter", err)
	}

	const accounts, funding = 4, 10_000
	keys := make([]*channel.PrivateKey, accounts)
	var mu sync.Mutex
	expected := map[channel.Address]uint64{}
	for i := range keys {
		keys[i] = key(t, 5000+i)
		if _, err := lc.Transfer(ctx, tr, keys[i].Address(), funding); err != nil {
			t.Fatal(err)
		}
		expected[keys[i].Address()] = funding
	}
	id, _ := lc.LedgerID(ctx)

	type acked struct {
		req  *ledger.TransferRequest
		resp []byte
	}
	var acks []acked
	var okOps, refused atomic.Int64
	nonceBase := ledger.NonceAt(time.Now()) &^ (1<<32 - 1) // the idempotency window needs the time
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 2*accounts)
	for w := range 2 * accounts {
		wr := rand.New(rand.NewPCG(uint64(w), 7))
		wg.Go(func() {
			me := keys[w%accounts]
			for n := uint64(0); !stop.Load(); n++ {
				to := keys[(w+1+wr.IntN(accounts-1))%accounts].Address()
				req := &ledger.TransferRequest{To: to, Amount: ledger.U64(1 + wr.Uint64N(funding/4)), Nonce: ledger.U64(nonceBase | uint64(w)<<24 | n)}
				req.Sign(id, me)
				var resp json.RawMessage
				err := lc.Post(ctx, "/v1/transfers", req, &resp)
				switch {
				case err == nil:
					mu.Lock()
					acks = append(acks, acked{req, resp})
					expected[me.Address()] -= uint64(req.Amount)
					expected[to] += uint64(req.Amount)
					mu.Unlock()
					okOps.Add(1)
				case errors.Is(err, ledger.ErrInsufficientFunds):
					refused.Add(1) // the other worker on this account got there first
				default:
					errs <- err
					return
				}
			}
		})
	}

	var takeovers []time.Duration
	probe := key(t, 6000).Address()
	for round, victim := range []int{0, 1} {
		time.Sleep(700 * time.Millisecond)
		before := okOps.Load()
		procs[victim].kill()
		killed := time.Now()
		// Takeover: a write sent after the kill is acknowledged (the client fails over).
		if _, err := lc.Transfer(ctx, tr, probe, 1); err != nil {
			t.Fatalf("round %d: write after the writer died: %v", round, err)
		}
		takeovers = append(takeovers, time.Since(killed))
		t.Logf("round %d: writer %d killed after %d transfers; a write sent then was acknowledged %v later", round, victim, before, takeovers[round])
		procs[victim].start(t) // back as a standby
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if refused.Load() == 0 {
		t.Error("no transfer was refused: the load did not conflict")
	}
	mu.Lock()
	defer mu.Unlock()
	var sum uint64
	for a, want := range expected {
		acc, err := lc.Balance(ctx, a)
		if err != nil || uint64(acc.Balance) != want {
			t.Errorf("account %s: balance %d (%v), model %d", a, acc.Balance, err, want)
		}
		sum += want
	}
	if sum != accounts*funding {
		t.Fatalf("model lost money: %d", sum)
	}
	in, err := lc.Info(ctx)
	if err != nil || in.Total != in.Supply {
		t.Fatalf("info %+v, %v", in, err)
	}
	for _, a := range acks {
		var resp json.RawMessage
		if err := lc.Post(ctx, "/v1/transfers", a.req, &resp); err != nil || !bytes.Equal(resp, a.resp) {
			t.Fatalf("replay: %v\n%s\nfirst answer\n%s", err, resp, a.resp)
		}
	}
	for _, p := range procs {
		if p.cmd != nil {
			p.kill()
		}
	}
	log := procs[0].log.String() // restarted as a standby in round 0, elected in round 1
	if !strings.Contains(log, "elected writer") {
		t.Errorf("the standby never reported its election:\n%s", log)
	}
	t.Logf("%d transfers acknowledged, %d refused for funds, 2 takeovers (%v, %v), balances match, replays identical",
		okOps.Load(), refused.Load(), takeovers[0], takeovers[1])
}
