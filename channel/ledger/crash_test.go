package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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

// ledgerProc is a btt-ledger process on loopback.
type ledgerProc struct {
	bin, db, addr string
	treasury      string   // --treasury-key; DB.treasury.json when empty
	wrap          []string // a command (and its arguments) that runs btt-ledger, e.g. prlimit
	cmd           *exec.Cmd
	log           bytes.Buffer
	exited        chan struct{} // closed when the process has exited; then err holds why
	err           error
}

func (p *ledgerProc) start(t *testing.T) {
	t.Helper()
	p.startNoWait(t)
	p.waitUp(t)
}

func (p *ledgerProc) startNoWait(t *testing.T) {
	t.Helper()
	p.log.Reset()
	args := []string{"--listen", p.addr, "--db", p.db, "--faucet-bits", "0", "--rate-limit", "0"}
	if p.treasury != "" {
		args = append(args, "--treasury-key", p.treasury)
	}
	args = append([]string{p.bin}, args...)
	if len(p.wrap) > 0 {
		args = append(slices.Clone(p.wrap), args...)
	}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stderr = &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		p.err = cmd.Wait()
		close(exited)
	}(p.cmd, p.exited)
}

// waitUp waits until the process answers reads.
func (p *ledgerProc) waitUp(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/v1/info")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			p.kill()
			t.Fatalf("btt-ledger did not come up: %v\n%s", err, p.log.String())
		}
		select {
		case <-p.exited:
			t.Fatalf("btt-ledger exited: %v\n%s", p.err, p.log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (p *ledgerProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill() // SIGKILL: no chance to flush anything
		<-p.exited
	}
	p.cmd = nil
}

// waitExit waits for the process to stop on its own and returns its log.
func (p *ledgerProc) waitExit(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(within):
		p.kill()
		t.Fatalf("btt-ledger still running %v after losing its database:\n%s", within, p.log.String())
	}
	p.cmd = nil
	return p.log.String()
}

// call is one prepared signed request; resending it is safe by the ledger's idempotency.
type call struct {
	path string
	body []byte
}

// post sends c until the ledger answers (retrying through crashes) and returns the response
// body. Any answer but 200 fails the test: every operation here is valid when applied.
func post(ctx context.Context, t *testing.T, hc *http.Client, base string, c call) ([]byte, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		resp, err := hc.Post(base+c.path, "application/json", bytes.NewReader(c.body))
		if err != nil {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			continue
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			// A writer whose commit failed answers 503 before it exits; a client resends.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("%s answered %d %s", c.path, resp.StatusCode, b)
		}
		return b, nil
	}
}

// TestCrashLoop kills btt-ledger with SIGKILL at random moments while concurrent workers
// send transfers, channel opens and closes, alone and in batches, restarts it, and at the end checks that every
// acknowledged operation is present exactly once (balances match a model in which every
// operation, retried with its original signed bytes until acknowledged, applied once), that
// acknowledged responses replay byte for byte, and that the supply is unchanged.
//
// BTT_LEDGER_CRASH_ROUNDS (default 6) and BTT_LEDGER_CRASH_SEED set the length and the seed.
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop starts a real server; skipped in -short")
	}
	dir := t.TempDir()
	p := &ledgerProc{bin: testutil.BuildCmd(t, "btt-ledger"), db: filepath.Join(dir, "l.db"),
		addr: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))}
	crashLoop(t, p, nil)
}

// TestCrashLoopPostgres is the crash loop against a real PostgreSQL server; every other
// round crashes PostgreSQL itself (immediate shutdown: the restart replays its WAL) instead
// of the ledger, and the ledger, which lost its database, must exit non-zero on its own.
func TestCrashLoopPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop starts real servers; skipped in -short")
	}
	pg := testutil.StartPostgres(t)
	p := &ledgerProc{bin: testutil.BuildCmd(t, "btt-ledger"), db: pg.URL, treasury: filepath.Join(t.TempDir(), "treasury.json"),
		addr: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))}
	crashLoop(t, p, pg)
}

func crashLoop(t *testing.T, p *ledgerProc, pg *testutil.Postgres) {
	rounds := 6
	if s := os.Getenv("BTT_LEDGER_CRASH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BTT_LEDGER_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d, %d rounds (BTT_LEDGER_CRASH_SEED / BTT_LEDGER_CRASH_ROUNDS)", seed, rounds)
	r := rand.New(rand.NewPCG(seed, 0))

	base := "http://" + p.addr
	p.start(t)
	defer p.kill()
	if p.treasury == "" {
		p.treasury = p.db + ".treasury.json"
	}
	tr, err := wallet.Load(p.treasury, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	hc := &http.Client{Timeout: 10 * time.Second}
	lc := ledger.NewClient(base, hc)
	id, err := lc.LedgerID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const workers = 6
	const funding = 1_000_000_000
	nonceBase := ledger.NonceAt(time.Now()) &^ (1<<32 - 1)
	keys := make([]*channel.PrivateKey, workers)
	var mu sync.Mutex
	expected := map[channel.Address]uint64{}
	type acked struct {
		c    call
		resp []byte
	}
	var acks []acked
	for i := range keys {
		keys[i] = key(t, 1000+int(seed%1000)*10+i)
		tx := ledger.TransferRequest{To: keys[i].Address(), Amount: funding, Nonce: ledger.U64(nonceBase | uint64(i))}
		tx.Sign(id, tr)
		b, _ := json.Marshal(&tx)
		if _, err := post(ctx, t, hc, base, call{"/v1/transfers", b}); err != nil {
			t.Fatal(err)
		}
		expected[keys[i].Address()] = funding
	}
	treasuryWant := channel.GenesisSupply - workers*funding

	var stop atomic.Bool
	var ops atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wr := rand.New(rand.NewPCG(seed, uint64(w)+1))
		wg.Go(func() {
			me := keys[w]
			spent := uint64(0)
			for n := uint64(0); !stop.Load(); n++ {
				other := keys[(w+1+wr.IntN(workers-1))%workers]
				// Nonces carry the time the test started (the idempotency window); the
				// low 32 bits count: 2^23 operations per worker, 8 workers, and a bit for
				// the opens of batches.
				nonce := nonceBase | n<<8 | uint64(w)
				send := func(c call) bool {
					b, err := post(ctx, t, hc, base, c)
					if err != nil {
						errs <- err
						return false
					}
					mu.Lock()
					acks = append(acks, acked{c, b})
					mu.Unlock()
					ops.Add(1)
					return true
				}
				mode := wr.IntN(3)
				if mode == 2 {
					// A batch: a transfer, an open and that channel's close, each acknowledged
					// with the very bytes its own endpoint answers on a replay.
					amt, dep := 1+wr.Uint64N(100), 1+wr.Uint64N(1000)
					if spent+amt+dep > funding {
						return
					}
					tx := &ledger.TransferRequest{To: other.Address(), Amount: ledger.U64(amt), Nonce: ledger.U64(nonce)}
					tx.Sign(id, me)
					o := &ledger.OpenRequest{Payee: other.Public(), Amount: ledger.U64(dep), Nonce: ledger.U64(nonce | 1<<31),
						Expiry: ledger.U64(time.Now().Add(time.Hour).Unix())}
					o.Sign(id, me)
					m := o.Message(id)
					cum := wr.Uint64N(dep + 1)
					v := channel.SignVoucher(me, channel.Voucher{Channel: m.ID(), Sequence: 1, Cumulative: cum})
					cr := &ledger.BatchClose{Channel: m.ID(), CloseRequest: ledger.NewCloseRequest(me.Public(), other.Public(), channel.SignClose(other, v))}
					bb, _ := json.Marshal(ledger.BatchRequest{Ops: []ledger.BatchOp{{Transfer: tx}, {Open: o}, {Close: cr}}})
					var res ledger.BatchResponse
					var err error
					for retry := true; retry; {
						var b []byte
						b, err = post(ctx, t, hc, base, call{"/v1/batch", bb})
						if err == nil {
							err = json.Unmarshal(b, &res)
						}
						// Operations answered 503 (a commit that failed as the database went
						// away) may or may not have been applied: the batch is resent whole.
						retry = err == nil && slices.ContainsFunc(res.Results, func(r ledger.BatchResult) bool { return r.Status == http.StatusServiceUnavailable })
					}
					if err == nil && (len(res.Results) != 3 || res.Results[0].Err() != nil || res.Results[1].Err() != nil || res.Results[2].Err() != nil) {
						err = fmt.Errorf("batch answered %+v", res)
					}
					if err != nil {
						errs <- err
						return
					}
					tb, _ := json.Marshal(tx)
					ob, _ := json.Marshal(o)
					cb, _ := json.Marshal(&cr.CloseRequest)
					mu.Lock()
					acks = append(acks, acked{call{"/v1/transfers", tb}, res.Results[0].Body},
						acked{call{"/v1/channels", ob}, res.Results[1].Body},
						acked{call{"/v1/channels/" + m.ID().String() + "/close", cb}, res.Results[2].Body})
					expected[me.Address()] -= amt + cum
					expected[other.Address()] += amt + cum
					mu.Unlock()
					ops.Add(3)
					spent += amt + cum
					continue
				}
				if mode == 0 {
					amt := 1 + wr.Uint64N(100)
					if spent+amt > funding {
						return
					}
					tx := ledger.TransferRequest{To: other.Address(), Amount: ledger.U64(amt), Nonce: ledger.U64(nonce)}
					tx.Sign(id, me)
					b, _ := json.Marshal(&tx)
					if !send(call{"/v1/transfers", b}) {
						return
					}
					spent += amt
					mu.Lock()
					expected[me.Address()] -= amt
					expected[other.Address()] += amt
					mu.Unlock()
					continue
				}
				amt := 1 + wr.Uint64N(1000)
				if spent+amt > funding {
					return
				}
				o := ledger.OpenRequest{Payee: other.Public(), Amount: ledger.U64(amt), Nonce: ledger.U64(nonce),
					Expiry: ledger.U64(time.Now().Add(time.Hour).Unix())}
				o.Sign(id, me)
				b, _ := json.Marshal(&o)
				if !send(call{"/v1/channels", b}) {
					return
				}
				spent += amt
				m := o.Message(id)
				cum := wr.Uint64N(amt + 1)
				v := channel.SignVoucher(me, channel.Voucher{Channel: m.ID(), Sequence: 1 + wr.Uint64N(5), Cumulative: cum})
				cr := ledger.NewCloseRequest(me.Public(), other.Public(), channel.SignClose(other, v))
				b, _ = json.Marshal(&cr)
				if !send(call{"/v1/channels/" + m.ID().String() + "/close", b}) {
					return
				}
				spent -= amt - cum // the refund is spendable again
				mu.Lock()
				expected[me.Address()] -= cum
				expected[other.Address()] += cum
				mu.Unlock()
			}
		})
	}

	for round := range rounds {
		time.Sleep(time.Duration(50+r.IntN(500)) * time.Millisecond)
		if pg != nil && round%2 == 1 {
			pg.Crash(t)
			t.Logf("round %d: PostgreSQL crashed after %d acknowledged operations", round, ops.Load())
			time.Sleep(time.Duration(r.IntN(300)) * time.Millisecond)
			pg.Start(t)
			// The writer lost its lock session: it must stop by itself, saying why.
			log := p.waitExit(t, 15*time.Second)
			if p.err == nil || !strings.Contains(log, "FATAL") {
				t.Fatalf("ledger after losing PostgreSQL: exit %v, log:\n%s", p.err, log)
			}
		} else {
			p.kill()
			t.Logf("round %d: killed after %d acknowledged operations", round, ops.Load())
		}
		p.start(t)
		// Acknowledged responses must replay byte for byte after the crash.
		mu.Lock()
		sample := make([]acked, 0, 20)
		for range 20 {
			if len(acks) > 0 {
				sample = append(sample, acks[r.IntN(len(acks))])
			}
		}
		mu.Unlock()
		for _, a := range sample {
			b, err := post(ctx, t, hc, base, a.c)
			if err != nil {
				t.Fatalf("replay after crash: %v", err)
			}
			if !bytes.Equal(b, a.resp) {
				t.Fatalf("replay of %s after crash answered\n%s\nfirst answer\n%s", a.c.path, b, a.resp)
			}
		}
		var in ledger.Info
		if err := lc.Get(ctx, "/v1/info", &in); err != nil || in.Total != in.Supply {
			t.Fatalf("after restart: info %+v, %v", in, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if ops.Load() == 0 {
		t.Fatal("no operation was acknowledged")
	}
	// One last crash with nothing in flight, then check the whole model.
	p.kill()
	p.start(t)
	mu.Lock()
	defer mu.Unlock()
	for a, want := range expected {
		acc, err := lc.Balance(ctx, a)
		if err != nil || uint64(acc.Balance) != want {
			t.Errorf("account %s: balance %d (%v), model %d", a, acc.Balance, err, want)
		}
	}
	if acc, err := lc.Balance(ctx, tr.Address()); err != nil || uint64(acc.Balance) != treasuryWant {
		t.Errorf("treasury %d (%v), want %d", acc.Balance, err, treasuryWant)
	}
	in, err := lc.Info(ctx)
	if err != nil || in.Total != in.Supply || in.OpenChannels != 0 {
		t.Errorf("final info %+v, %v", in, err)
	}
	for _, a := range acks {
		b, err := post(ctx, t, hc, base, a.c)
		if err != nil || !bytes.Equal(b, a.resp) {
			t.Fatalf("final replay of %s: %v\n%s\nfirst answer\n%s", a.c.path, err, b, a.resp)
		}
	}
	t.Logf("%d acknowledged operations over %d crashes: model matches, %d replays identical", ops.Load(), rounds+1, len(acks))
}
