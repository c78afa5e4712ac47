// Package bridgetest holds what tests of the bridge share: a ledger, a stand-in TRON node and
// a bridge between them, all in the test process on loopback.
package bridgetest

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/bridge"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/tron"
	"github.com/speedbt/btt/internal/ledgertest"
	"github.com/speedbt/btt/internal/tronstandin"
)

// Rig is a ledger (bbolt, over HTTP on loopback), a stand-in TRON node (over HTTP on
// loopback) holding hot BTT units in the bridge's wallet, and a bridge between them with
// conf confirmations.
type Rig struct {
	t         *testing.T
	Ctx       context.Context
	Ledger    *ledger.Client
	LedgerURL string
	Node      *tronstandin.Node
	Bridge    *bridge.Bridge
	BridgeKey *channel.PrivateKey
	Treasury  *channel.PrivateKey
}

// New starts a rig; everything stops when the test ends.
func New(t *testing.T, conf int64, hot int64) *Rig {
	t.Helper()
	treasury, _ := channel.GenerateKey()
	bk, _ := channel.GenerateKey()
	ls := ledgertest.Start(t, treasury, func(c *ledger.Config) { c.Core.Bridge = bk.Address() })
	node := tronstandin.New(map[channel.Address]int64{bk.Address(): hot})
	ns := httptest.NewServer(node)
	t.Cleanup(ns.Close)
	node.Mine(int(conf) + 2)
	bc := bridge.DefaultConfig()
	bc.Confirmations = conf
	bc.Logf = t.Logf
	b, err := bridge.New(bc, ledger.NewClient(ls.URL, nil), tron.NewHTTPNode(ns.URL, nil), bk)
	if err != nil {
		t.Fatal(err)
	}
	// Registered last, so it runs first: whatever runs on Ctx stops before the
	// servers and the ledger do.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Rig{t: t, Ctx: ctx, Ledger: ls.Client, LedgerURL: ls.URL, Node: node, Bridge: b,
		BridgeKey: bk, Treasury: treasury}
}

// User returns a new key holding amount on the ledger.
func (r *Rig) User(amount uint64) *channel.PrivateKey {
	r.t.Helper()
	k, _ := channel.GenerateKey()
	if amount > 0 {
		if _, err := r.Ledger.Transfer(r.Ctx, r.Treasury, k.Address(), amount); err != nil {
			r.t.Fatal(err)
		}
	}
	return k
}

// Balance reads a ledger balance.
func (r *Rig) Balance(a channel.Address) uint64 {
	r.t.Helper()
	acc, err := r.Ledger.Balance(r.Ctx, a)
	if err != nil {
		r.t.Fatal(err)
	}
	return uint64(acc.Balance)
}

// CheckSupply checks the invariant: ledger total + bridged (in flight + outstanding on chain)
// = genesis supply.
func (r *Rig) CheckSupply() {
	r.t.Helper()
	CheckSupply(r.t, r.Ctx, r.Ledger)
}

// CheckSupply checks, over the ledger's HTTP API, that the balances and open channels
// (GET /v1/info's total) plus the withdrawals in flight and the tokens outstanding on chain
// (GET /v1/bridge) make the genesis supply.
func CheckSupply(t testing.TB, ctx context.Context, lc *ledger.Client) {
	t.Helper()
	in, err := lc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lc.Bridge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(in.Total)+uint64(b.InFlight)+uint64(b.OnChain) != channel.GenesisSupply || b.Imported > b.Exported {
		t.Fatalf("supply: total %d + in flight %d + on chain %d (exported %d, imported %d) != %d",
			in.Total, b.InFlight, b.OnChain, b.Exported, b.Imported, channel.GenesisSupply)
	}
}

// Steps runs bridge steps, mining one block after each, until done or n steps.
func (r *Rig) Steps(n int, done func() bool) error {
	r.t.Helper()
	var err error
	for range n {
		err = r.Bridge.Step(r.Ctx)
		if errors.Is(err, bridge.ErrDeepReorg) {
			return err
		}
		r.CheckSupply()
		if done != nil && done() {
			return nil
		}
		r.Node.Mine(1)
	}
	if done != nil {
		r.t.Fatalf("not done after %d steps (last error %v)", n, err)
	}
	return err
}

// Withdrawal reads a withdrawal.
func (r *Rig) Withdrawal(id ledger.Hash) ledger.Withdrawal {
	r.t.Helper()
	w, err := r.Ledger.Withdrawal(r.Ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return w
}
