package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/internal/bridgetest"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/tronstandin"
)

// TestOperators runs the whole thing as operators and users would, with the binaries:
// btt-ledger --bridge, btt-bridge new-key and btt-bridge against a stand-in TRON node, and
// btt wallet withdraw, deposit-address and history. The ledger is SIGKILLed and restarted
// half-way: the bridge's records come back from its bbolt file, supply intact.
func TestOperators(t *testing.T) {
	ledgerBin, bridgeBin, bttBin := testutil.BuildCmd(t, "btt-ledger"), testutil.BuildCmd(t, "btt-bridge"), testutil.BuildCmd(t, "btt")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("operator secret\n"), 0o600)
	keyFile := filepath.Join(dir, "bridge.key")
	out, err := exec.Command(bridgeBin, "new-key", "--key", keyFile, "--password-file", pwFile).CombinedOutput()
	if err != nil {
		t.Fatalf("new-key: %v\n%s", err, out)
	}
	bridgeAddr := regexp.MustCompile(`address: (T\w+)`).FindStringSubmatch(string(out))[1]
	if out, err := exec.Command(bridgeBin, "new-key", "--key", filepath.Join(dir, "plain.key")).CombinedOutput(); err == nil {
		t.Fatalf("new-key without a password: %s", out)
	}
	ba, _ := channel.ParseAddress(bridgeAddr)

	node := tronstandin.New(map[channel.Address]int64{ba: 1_000 * btt})
	node.Mine(5)
	ns := httptest.NewServer(node)
	defer ns.Close()
	go func() { // a block every 20 ms
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				node.Mine(1)
			}
		}
	}()

	listen := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
	url := "http://" + listen
	db := filepath.Join(dir, "ledger.db")
	var ledgerCmd *exec.Cmd
	startLedger := func() {
		ledgerCmd = exec.Command(ledgerBin, "--listen", listen, "--db", db, "--bridge", bridgeAddr)
		if err := ledgerCmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if _, err := ledger.NewClient(url, nil).Info(ctx); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("btt-ledger did not come up")
			}
		}
	}
	startLedger()
	defer func() { ledgerCmd.Process.Kill(); ledgerCmd.Wait() }()
	lc := ledger.NewClient(url, nil)
	treasury, err := wallet.Load(db+".treasury.json", nil)
	if err != nil {
		t.Fatal(err)
	}

	bridgeCmd := exec.Command(bridgeBin, "--ledger", url, "--node", ns.URL, "--key", keyFile, "--password-file", pwFile,
		"--confirmations", "3", "--poll", "20ms")
	var blog bytes.Buffer
	bridgeCmd.Stderr = &blog
	if err := bridgeCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { bridgeCmd.Process.Kill(); bridgeCmd.Wait() }()

	runBtt := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bttBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("btt %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	wf := filepath.Join(dir, "me.json")
	me, _ := channel.ParseAddress(regexp.MustCompile(`address: (T\w+)`).FindStringSubmatch(runBtt("wallet", "new", "--wallet", wf))[1])
	if _, err := lc.Transfer(ctx, treasury, me, 20*channel.UnitsPerBTT); err != nil {
		t.Fatal(err)
	}
	chainKey := testKey(t)
	out2 := runBtt("wallet", "withdraw", "--wallet", wf, "--ledger", url, "--to", chainKey.Address().String(), "--amount", "12")
	id, _ := ledger.ParseHash(regexp.MustCompile(`withdrawal: (\w+)`).FindStringSubmatch(out2)[1])
	waitFor(t, "withdrawal confirmed", func() bool {
		w, err := lc.Withdrawal(ctx, id)
		return err == nil && w.Status == ledger.WithdrawConfirmed
	}, &blog)
	if got := node.Balance(chainKey.Address()); got != 12*btt {
		t.Fatalf("on chain: %d", got)
	}

	// The ledger dies and comes back; the bridge carries on.
	ledgerCmd.Process.Kill()
	ledgerCmd.Wait()
	startLedger()
	bridgetest.CheckSupply(t, ctx, lc)

	dep := runBtt("wallet", "deposit-address", "--wallet", wf, "--ledger", url)
	if !strings.Contains(dep, "deposit address: "+bridgeAddr) || !strings.Contains(dep, "memo: "+me.String()) {
		t.Fatalf("deposit-address: %q", dep)
	}
	if _, err := node.Transfer(chainKey, ba, 5*btt, []byte(me.String())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deposit credited", func() bool {
		acc, err := lc.Balance(ctx, me)
		return err == nil && uint64(acc.Balance) == 13*channel.UnitsPerBTT
	}, &blog)
	hist := runBtt("wallet", "history", "--wallet", wf, "--ledger", url)
	if !strings.Contains(hist, "12.000000 BTT to "+chainKey.Address().String()+", confirmed") ||
		!strings.Contains(hist, "5.000000 BTT from "+chainKey.Address().String()+", credited") {
		t.Fatalf("history: %q", hist)
	}
	bridgetest.CheckSupply(t, ctx, lc)
}

func waitFor(t *testing.T, what string, ok func() bool, log *bytes.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 60 s; bridge log:\n%s", what, log.String())
		}
	}
}
