package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/internal/bridgetest"
	"github.com/speedbt/btt/internal/ledgertest"
)

// TestWalletCLI drives "btt wallet" against a real ledger (HTTP on loopback, bbolt file).
func TestWalletCLI(t *testing.T) {
	dir := t.TempDir()
	srv := ledgertest.Start(t, nil, func(c *ledger.Config) { c.Core.FaucetBits = 6 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := walletMain(ctx, args, &out, &errb)
		return out.String(), err
	}
	w1, w2 := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	out, err := run("new", "--wallet", w1, "--password-file", pwFile)
	if err != nil || !strings.Contains(out, "encrypted: yes") {
		t.Fatalf("new: %q, %v", out, err)
	}
	addr1 := regexp.MustCompile(`address: (T\w+)`).FindStringSubmatch(out)[1]
	if _, err := run("new", "--wallet", w2); err != nil {
		t.Fatal(err)
	}
	if _, err := run("new", "--wallet", w2); err == nil {
		t.Fatal("new overwrote a wallet")
	}
	out, err = run("show", "--wallet", w1, "--ledger", srv.URL)
	if err != nil || !strings.Contains(out, "address: "+addr1) || !strings.Contains(out, "balance: 0.000000 BTT") {
		t.Fatalf("show: %q, %v", out, err)
	}
	if _, err := run("faucet", "--wallet", w1, "--ledger", srv.URL); !errors.Is(err, wallet.ErrNeedPassword) {
		t.Fatalf("faucet without password: %v", err)
	}
	out, err = run("faucet", "--wallet", w1, "--ledger", srv.URL, "--password-file", pwFile)
	if err != nil || !strings.Contains(out, "received: 10.000000 BTT") {
		t.Fatalf("faucet: %q, %v", out, err)
	}
	out, err = run("show", "--wallet", w2)
	if err != nil {
		t.Fatal(err)
	}
	addr2 := regexp.MustCompile(`address: (T\w+)`).FindStringSubmatch(out)[1]
	out, err = run("transfer", "--wallet", w1, "--ledger", srv.URL, "--password-file", pwFile, "--to", addr2, "--amount", "2.5")
	if err != nil || !strings.Contains(out, "sent: 2.500000 BTT") {
		t.Fatalf("transfer: %q, %v", out, err)
	}
	for w, want := range map[string]string{w1: "7.500000", w2: "2.500000"} {
		out, err := run("balance", "--wallet", w, "--ledger", srv.URL)
		if err != nil || !strings.Contains(out, "\nbalance: "+want+" BTT\n") {
			t.Fatalf("balance %s: %q, %v", w, out, err)
		}
	}
	out, err = run("transfer", "--wallet", w2, "--ledger", srv.URL, "--to", addr1, "--amount", "3")
	if !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("overdraft: %q, %v", out, err)
	}
	for _, args := range [][]string{
		{}, {"bogus", "--wallet", w1}, {"balance"}, {"balance", "--wallet", w1},
		{"transfer", "--wallet", w1, "--ledger", srv.URL, "--to", "nope", "--amount", "1"},
		{"transfer", "--wallet", w1, "--ledger", srv.URL, "--to", addr2, "--amount", "1.0000001"},
		{"transfer", "--wallet", w1, "--ledger", srv.URL, "--to", addr2, "--amount", "-1"},
	} {
		if _, err := run(args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

// TestWalletBridgeCLI runs btt wallet withdraw, deposit-address and history against a ledger with a
// bridge, a stand-in TRON node and the bridge between them.
func TestWalletBridgeCLI(t *testing.T) {
	r := bridgetest.New(t, 2, 100*channel.UnitsPerBTT)
	dir := t.TempDir()
	wf := dir + "/me.json"
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := walletMain(r.Ctx, args, &out, &errb); err != nil {
			t.Fatalf("%q: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	out := run("new", "--wallet", wf)
	me, err := channel.ParseAddress(regexp.MustCompile(`address: (T\w+)`).FindStringSubmatch(out)[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Ledger.Transfer(r.Ctx, r.Treasury, me, 10*channel.UnitsPerBTT); err != nil {
		t.Fatal(err)
	}
	chainKey, _ := channel.GenerateKey()
	out = run("withdraw", "--wallet", wf, "--ledger", r.LedgerURL, "--to", chainKey.Address().String(), "--amount", "4.5")
	if !strings.Contains(out, "status: pending") || !strings.Contains(out, "balance: 5.500000 BTT") {
		t.Fatalf("withdraw: %q", out)
	}
	id, _ := ledger.ParseHash(regexp.MustCompile(`withdrawal: (\w+)`).FindStringSubmatch(out)[1])
	r.Steps(20, func() bool { return r.Withdrawal(id).Status == ledger.WithdrawConfirmed })
	out = run("deposit-address", "--wallet", wf, "--ledger", r.LedgerURL)
	if !strings.Contains(out, "deposit address: "+r.BridgeKey.Address().String()) || !strings.Contains(out, "memo: "+me.String()) {
		t.Fatalf("deposit-address: %q", out)
	}
	// Send 1.25 BTT back on chain, naming our ledger address.
	if _, err := r.Node.Transfer(chainKey, r.BridgeKey.Address(), 1_250_000, []byte(me.String())); err != nil {
		t.Fatal(err)
	}
	r.Steps(20, func() bool { return r.Balance(me) == 6_750_000 })
	out = run("history", "--wallet", wf, "--ledger", r.LedgerURL)
	if !regexp.MustCompile(`withdrawal \w+: 4.500000 BTT to T\w+, confirmed, transaction \w{64}, block \d+`).MatchString(out) ||
		!regexp.MustCompile(`deposit \w{64}: 1.250000 BTT from `+chainKey.Address().String()+`, credited`).MatchString(out) ||
		!strings.Contains(out, "1 withdrawals, 1 deposits") {
		t.Fatalf("history: %q", out)
	}
	for _, args := range [][]string{
		{"withdraw", "--wallet", wf, "--ledger", r.LedgerURL, "--to", "0x41", "--amount", "1"},
		{"withdraw", "--wallet", wf, "--ledger", r.LedgerURL, "--to", me.String(), "--amount", "0"},
		{"history", "--wallet", wf},
	} {
		var o, e bytes.Buffer
		if err := walletMain(r.Ctx, args, &o, &e); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
