package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/bridge"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/tron"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/internal/bridgetest"
	"github.com/speedbt/btt/internal/ledgertest"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/tronstandin"
)

const btt = channel.UnitsPerBTT

// killer counts the bridge's requests to the ledger and the node and SIGKILLs the bridge
// process at request number at: before the request is handled, or after it was handled but
// before the bridge reads the answer.
type killer struct {
	mu     sync.Mutex
	armed  bool
	at     int
	after  bool
	n      int
	paths  []string // of the requests counted, in order
	proc   *os.Process
	killed string // path of the request it was killed at
}

func (k *killer) arm(at int, after bool, p *os.Process) {
	k.mu.Lock()
	k.armed, k.at, k.after, k.n, k.proc, k.killed, k.paths = true, at, after, 0, p, "", nil
	k.mu.Unlock()
}

func (k *killer) disarm() {
	k.mu.Lock()
	k.armed = false
	k.mu.Unlock()
}

// hit reports whether this request is the one to kill at.
func (k *killer) hit(path string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.armed {
		return false
	}
	k.paths = append(k.paths, path)
	k.n++
	return k.n == k.at
}

func (k *killer) kill(path string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.proc.Kill() // SIGKILL
	k.killed, k.armed = path, false
}

func (k *killer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !k.hit(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if !k.after {
			k.kill(r.URL.Path)
			http.Error(w, "killed", http.StatusServiceUnavailable)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		k.kill(r.URL.Path)
		http.Error(w, "killed", http.StatusServiceUnavailable)
	})
}

// TestCrashLoop runs a withdrawal and a deposit through the btt-bridge binary, SIGKILLing it
// at its k-th request to the ledger or the node (before that request is handled, and after
// it was handled but before the answer arrives) for every k up to past the end of the cycle,
// then lets a fresh bridge finish. Each withdrawal must pay exactly once on chain and each
// deposit credit exactly once, and the supply invariant must hold after every round.
// BTT_BRIDGE_CRASH_POINTS=N changes how many k are tried (default 30, which covers a whole round; fewer skip the check that every step was hit).
func TestCrashLoop(t *testing.T) {
	bin := testutil.BuildCmd(t, "btt-bridge")
	const fullCycle = 30 // requests from the start of a round to past its last report
	points := fullCycle
	if s := os.Getenv("BTT_BRIDGE_CRASH_POINTS"); s != "" {
		points, _ = strconv.Atoi(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()

	treasury, _ := channel.GenerateKey()
	bk, _ := channel.GenerateKey()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("bridge password\n"), 0o600)
	keyFile := filepath.Join(dir, "bridge.key")
	if err := wallet.Save(keyFile, bk, []byte("bridge password")); err != nil {
		t.Fatal(err)
	}
	l := ledgertest.Open(t, treasury, func(c *ledger.Config) { c.Core.Bridge = bk.Address() })

	// The bridge process talks to ls and ns, through the killer; the test itself to plain
	// servers, so that only the bridge's requests are counted.
	k := &killer{}
	lh := ledger.NewHandler(l.Ledger)
	ls := httptest.NewServer(k.wrap(lh))
	defer ls.Close()
	plain := httptest.NewServer(lh)
	defer plain.Close()
	node := tronstandin.New(map[channel.Address]int64{bk.Address(): 1_000_000 * btt})
	node.Mine(5)
	// A block per look at the head: the chain moves exactly as fast as the bridge steps, so
	// the k-th request is the same step of the cycle in every run.
	nh := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wallet/getnowblock" {
			node.Mine(1)
		}
		node.ServeHTTP(w, r)
	})
	ns := httptest.NewServer(k.wrap(nh))
	defer ns.Close()
	plainNode := httptest.NewServer(nh)
	defer plainNode.Close()
	lc := ledger.NewClient(plain.URL, nil)

	alice, bob, carol := testKey(t), testKey(t), testKey(t)
	aliceChain := testKey(t).Address()
	for _, u := range []*channel.PrivateKey{alice, carol} {
		if _, err := lc.Transfer(ctx, treasury, u.Address(), 1000*btt); err != nil {
			t.Fatal(err)
		}
	}
	// Carol takes 500 BTT on chain (so that deposits are backed), through an in-process bridge.
	bc := bridge.DefaultConfig()
	bc.Confirmations = 2
	inproc, err := bridge.New(bc, lc, tron.NewHTTPNode(plainNode.URL, nil), bk)
	if err != nil {
		t.Fatal(err)
	}
	cw, err := lc.Withdraw(ctx, carol, carol.Address(), 500*btt)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		inproc.Step(ctx)
		if w, _ := lc.Withdrawal(ctx, cw.ID); w.Status == ledger.WithdrawConfirmed {
			break
		}
		if i > 50 {
			t.Fatal("setup withdrawal not confirmed")
		}
	}

	start := func() (*exec.Cmd, chan error) {
		cmd := exec.Command(bin, "--ledger", ls.URL, "--node", ns.URL, "--key", keyFile, "--password-file", pw,
			"--confirmations", "2", "--poll", "5ms")
		cmd.Stderr = &prefixWriter{t: t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, done
	}
	checkSupply := func() { bridgetest.CheckSupply(t, ctx, lc) }

	killedAt := map[string]bool{}
	round := 0
	for _, after := range []bool{false, true} {
		for at := 1; at <= points; at++ {
			round++
			w, err := lc.Withdraw(ctx, alice, aliceChain, 1*btt)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := node.Transfer(carol, bk.Address(), 1*btt, []byte(bob.Address().String())); err != nil {
				t.Fatal(err)
			}
			chainBefore, bobBefore := node.Balance(aliceChain), balance(t, lc, bob.Address())

			cmd, done := start()
			k.arm(at, after, cmd.Process)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("round %d: the bridge made fewer than %d requests in 30 s", round, at)
			}
			k.disarm()
			k.mu.Lock()
			if os.Getenv("BTT_BRIDGE_CRASH_TRACE") != "" {
				t.Logf("round %d: %v", round, k.paths)
			}
			killedAt[fmt.Sprintf("%s after=%v", k.killed, after)] = true
			k.mu.Unlock()

			cmd, done = start()
			deadline := time.Now().Add(30 * time.Second)
			for {
				ww, err := lc.Withdrawal(ctx, w.ID)
				if err == nil && ww.Status == ledger.WithdrawConfirmed && balance(t, lc, bob.Address()) == bobBefore+1*btt {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("round %d: not done after 30 s: withdrawal %+v", round, ww)
				}
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Kill()
			<-done
			node.Mine(4) // anything still pooled would be mined now
			if got := node.Balance(aliceChain) - chainBefore; got != 1*btt {
				t.Fatalf("round %d (kill at %d, after=%v): withdrawal paid %d on chain", round, at, after, got)
			}
			if got := balance(t, lc, bob.Address()) - bobBefore; got != 1*btt {
				t.Fatalf("round %d: deposit credited %d", round, got)
			}
			checkSupply()
			// Catch the deposit scan up to the head, so that every round starts alike.
			if err := inproc.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	h, err := lc.History(ctx, bob.Address())
	if err != nil || len(h.Deposits) != round {
		t.Fatalf("%d deposits recorded for %d rounds (%v)", len(h.Deposits), round, err)
	}
	if got, want := node.Balance(aliceChain), int64(round)*btt; got != want {
		t.Fatalf("alice on chain %d, want %d", got, want)
	}
	// Every kind of step was interrupted, in both modes.
	if points < fullCycle {
		return
	}
	for _, p := range []string{"/v1/bridge", "/wallet/getnowblock", "/v1/bridge/tx", "/wallet/broadcasttransaction",
		"/wallet/gettransactioninfobyid", "/wallet/getblockbynum", "/v1/bridge/confirm", "/v1/bridge/deposit", "/v1/bridge/scan"} {
		for _, after := range []bool{false, true} {
			if !killedAt[fmt.Sprintf("%s after=%v", p, after)] {
				keys := make([]string, 0, len(killedAt))
				for k := range killedAt {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				t.Errorf("never killed at %s (after=%v); killed at %v", p, after, keys)
			}
		}
	}
	t.Logf("%d rounds, each a withdrawal and a deposit, bridge killed at %d distinct steps", round, len(killedAt))
}

func testKey(t *testing.T) *channel.PrivateKey {
	k, err := channel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func balance(t *testing.T, lc *ledger.Client, a channel.Address) uint64 {
	acc, err := lc.Balance(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(acc.Balance)
}

// prefixWriter sends the bridge's log to the test log only when verbose.
type prefixWriter struct{ t *testing.T }

func (w *prefixWriter) Write(b []byte) (int, error) {
	if testing.Verbose() {
		w.t.Logf("%s", b)
	}
	return len(b), nil
}
