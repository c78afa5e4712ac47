package wallet_test

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/internal/bridgetest"
)

// TestBridgeCLI runs btt wallet withdraw, deposit-address and history against a ledger with a
// bridge, a stand-in TRON node and the bridge between them.
func TestBridgeCLI(t *testing.T) {
	r := bridgetest.New(t, 2, 100*channel.UnitsPerBTT)
	dir := t.TempDir()
	wf := dir + "/me.json"
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := wallet.Run(r.Ctx, args, &out, &errb); err != nil {
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
	var ue *wallet.UsageError
	for _, args := range [][]string{
		{"withdraw", "--wallet", wf, "--ledger", r.LedgerURL, "--to", "0x41", "--amount", "1"},
		{"withdraw", "--wallet", wf, "--ledger", r.LedgerURL, "--to", me.String(), "--amount", "0"},
		{"history", "--wallet", wf},
	} {
		var o, e bytes.Buffer
		if err := wallet.Run(r.Ctx, args, &o, &e); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
