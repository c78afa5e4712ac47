package bridge

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
	"github.com/speedbt/btt/channel/tron"
	"github.com/speedbt/btt/internal/tronstandin"
)

const btt = channel.UnitsPerBTT

// rig is a ledger (bbolt, over HTTP on loopback), a stand-in node (over HTTP on loopback)
// and a bridge between them.
type rig struct {
	t        *testing.T
	ctx      context.Context
	lc       *ledger.Client
	node     *tronstandin.Node
	b        *Bridge
	bridge   *channel.PrivateKey
	treasury *channel.PrivateKey
}

func newRig(t *testing.T, conf int64, hot int64) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	treasury, _ := channel.GenerateKey()
	bk, _ := channel.GenerateKey()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ledger.DefaultConfig()
	cfg.Treasury = treasury.Address()
	cfg.Core.Bridge = bk.Address()
	l, err := ledger.Open(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	ls := httptest.NewServer(ledger.NewHandler(l))
	t.Cleanup(func() { ls.Close(); cancel(); <-done; store.Close() })
	node := tronstandin.New(map[channel.Address]int64{bk.Address(): hot})
	ns := httptest.NewServer(node)
	t.Cleanup(ns.Close)
	node.Mine(int(conf) + 2)
	bc := DefaultConfig()
	bc.Confirmations = conf
	bc.Logf = t.Logf
	b, err := New(bc, ledger.NewClient(ls.URL, nil), tron.NewHTTPNode(ns.URL, nil), bk)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, ctx: ctx, lc: ledger.NewClient(ls.URL, nil), node: node, b: b, bridge: bk, treasury: treasury}
}

// user returns a new key holding amount on the ledger.
func (r *rig) user(amount uint64) *channel.PrivateKey {
	r.t.Helper()
	k, _ := channel.GenerateKey()
	if amount > 0 {
		if _, err := r.lc.Transfer(r.ctx, r.treasury, k.Address(), amount); err != nil {
			r.t.Fatal(err)
		}
	}
	return k
}

func (r *rig) balance(a channel.Address) uint64 {
	r.t.Helper()
	acc, err := r.lc.Balance(r.ctx, a)
	if err != nil {
		r.t.Fatal(err)
	}
	return uint64(acc.Balance)
}

// checkSupply checks the invariant: ledger total + bridged (in flight + outstanding on chain)
// = genesis supply.
func (r *rig) checkSupply() {
	r.t.Helper()
	in, err := r.lc.Info(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	if uint64(in.Total)+uint64(in.Bridged) != channel.GenesisSupply {
		r.t.Fatalf("supply: total %d + bridged %d != %d", in.Total, in.Bridged, channel.GenesisSupply)
	}
}

// steps runs bridge steps, mining one block after each, until done or n steps.
func (r *rig) steps(n int, done func() bool) error {
	r.t.Helper()
	var err error
	for range n {
		err = r.b.Step(r.ctx)
		if errors.Is(err, ErrDeepReorg) {
			return err
		}
		r.checkSupply()
		if done != nil && done() {
			return nil
		}
		r.node.Mine(1)
	}
	if done != nil {
		r.t.Fatalf("not done after %d steps (last error %v)", n, err)
	}
	return err
}

func (r *rig) withdrawal(id ledger.Hash) ledger.Withdrawal {
	r.t.Helper()
	w, err := r.lc.Withdrawal(r.ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return w
}

func TestWithdrawThenDeposit(t *testing.T) {
	r := newRig(t, 3, 1_000*btt)
	alice, bob := r.user(10*btt), r.user(0)
	w, err := r.lc.Withdraw(r.ctx, alice, alice.Address(), 4*btt)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.balance(alice.Address()); got != 6*btt {
		t.Fatalf("alice after withdrawing: %d", got)
	}
	r.checkSupply()
	r.steps(20, func() bool { return r.withdrawal(w.ID).Status == ledger.WithdrawConfirmed })
	if got := r.node.Balance(alice.Address()); got != 4*btt {
		t.Fatalf("alice on chain: %d", got)
	}
	if got := r.node.Balance(r.bridge.Address()); got != 996*btt {
		t.Fatalf("bridge on chain: %d", got)
	}
	// Alice sends 3 BTT back on chain, for Bob's ledger account.
	txid, err := r.node.Transfer(alice, r.bridge.Address(), 3*btt, []byte(bob.Address().String()))
	if err != nil {
		t.Fatal(err)
	}
	r.steps(20, func() bool { return r.balance(bob.Address()) == 3*btt })
	for range 5 { // more steps change nothing
		r.steps(1, nil)
	}
	if got := r.balance(bob.Address()); got != 3*btt {
		t.Fatalf("bob credited %d", got)
	}
	h, err := r.lc.History(r.ctx, bob.Address())
	if err != nil || len(h.Deposits) != 1 || h.Deposits[0].TxID != ledger.Hash(txid) || h.Deposits[0].Status != ledger.DepositCredited {
		t.Fatalf("bob's history: %+v %v", h, err)
	}
	h, _ = r.lc.History(r.ctx, alice.Address())
	if len(h.Withdrawals) != 1 || h.Withdrawals[0].TxID.IsZero() {
		t.Fatalf("alice's history: %+v", h)
	}
	if n := r.node.Broadcasts; n != 2 {
		t.Fatalf("%d transactions accepted by the node, want 2 (one withdrawal, one deposit)", n)
	}
}

// A transaction lost before any block took it is replaced once it expired, and the user
// is paid once.
func TestExpiredTransactionReplaced(t *testing.T) {
	r := newRig(t, 2, 100*btt)
	alice := r.user(5 * btt)
	w, err := r.lc.Withdraw(r.ctx, alice, alice.Address(), 5*btt)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.b.Step(r.ctx); err != nil {
		t.Fatal(err)
	}
	first := r.withdrawal(w.ID)
	r.node.DropPool()
	r.node.Mine(25) // 75 s: past the 60 s expiration, with the confirmations
	// The bridge broadcasts the same transaction again only while it can still be included.
	r.steps(30, func() bool { return r.withdrawal(w.ID).Status == ledger.WithdrawConfirmed })
	last := r.withdrawal(w.ID)
	if last.Attempt != 2 || last.TxID == first.TxID {
		t.Fatalf("attempt %d, txid %s (first %s)", last.Attempt, last.TxID, first.TxID)
	}
	if got := r.node.Balance(alice.Address()); got != 5*btt {
		t.Fatalf("alice on chain: %d", got)
	}
}

func TestDepositWithoutLedgerAddress(t *testing.T) {
	r := newRig(t, 2, 100*btt)
	alice := r.user(10 * btt)
	w, _ := r.lc.Withdraw(r.ctx, alice, alice.Address(), 10*btt)
	r.steps(20, func() bool { return r.withdrawal(w.ID).Status == ledger.WithdrawConfirmed })
	for _, memo := range []string{"", "hello", alice.Address().String()[:30], "T" + strings.Repeat("1", 33)} {
		if _, err := r.node.Transfer(alice, r.bridge.Address(), 1*btt, []byte(memo)); err != nil {
			t.Fatal(err)
		}
	}
	before := r.balance(alice.Address())
	r.node.Mine(1)
	r.steps(6, nil)
	info, _ := r.lc.Bridge(r.ctx)
	if r.balance(alice.Address()) != before || info.Imported != 0 {
		t.Fatalf("credited without a ledger address: balance %d -> %d, imported %d", before, r.balance(alice.Address()), info.Imported)
	}
}

// A deposit larger than what the ledger ever sent out would mint tokens: recorded, not credited.
func TestUnbackedDeposit(t *testing.T) {
	r := newRig(t, 2, 100*btt)
	outsider, _ := channel.GenerateKey()
	bob := r.user(0)
	// The bridge's hot wallet pays the outsider on chain outside the ledger (operator action).
	if _, err := r.node.Transfer(r.bridge, outsider.Address(), 50*btt, nil); err != nil {
		t.Fatal(err)
	}
	r.node.Mine(1)
	if _, err := r.node.Transfer(outsider, r.bridge.Address(), 50*btt, []byte(bob.Address().String())); err != nil {
		t.Fatal(err)
	}
	r.node.Mine(1)
	r.steps(6, nil)
	h, _ := r.lc.History(r.ctx, bob.Address())
	if r.balance(bob.Address()) != 0 || len(h.Deposits) != 1 || h.Deposits[0].Status != ledger.DepositUnbacked {
		t.Fatalf("unbacked deposit: balance %d, history %+v", r.balance(bob.Address()), h)
	}
}

// depositFixture withdraws 10 BTT to alice on chain, confirmed, so that deposits are backed.
func depositFixture(t *testing.T, conf int64) (*rig, *channel.PrivateKey) {
	r := newRig(t, conf, 100*btt)
	alice := r.user(10 * btt)
	w, err := r.lc.Withdraw(r.ctx, alice, alice.Address(), 10*btt)
	if err != nil {
		t.Fatal(err)
	}
	r.steps(30, func() bool { return r.withdrawal(w.ID).Status == ledger.WithdrawConfirmed })
	return r, alice
}

func TestShallowReorgCreditsOnce(t *testing.T) {
	r, alice := depositFixture(t, 3)
	bob := r.user(0)
	if _, err := r.node.Transfer(alice, r.bridge.Address(), 2*btt, []byte(bob.Address().String())); err != nil {
		t.Fatal(err)
	}
	r.node.Mine(2) // in a block with one on top: not yet confirmed
	r.steps(1, nil)
	r.node.Reorg(2, nil) // the transaction moves to another block
	r.steps(10, func() bool { return r.balance(bob.Address()) == 2*btt })
	r.steps(5, nil)
	if got := r.balance(bob.Address()); got != 2*btt {
		t.Fatalf("bob: %d", got)
	}
}

func TestDeepReorgStops(t *testing.T) {
	for _, drop := range []bool{false, true} {
		r, alice := depositFixture(t, 2)
		bob := r.user(0)
		txid, err := r.node.Transfer(alice, r.bridge.Address(), 2*btt, []byte(bob.Address().String()))
		if err != nil {
			t.Fatal(err)
		}
		r.steps(10, func() bool { return r.balance(bob.Address()) == 2*btt })
		// Deeper than the confirmations: the block the ledger recorded is gone. Either the
		// deposit is mined again in another block, or it is gone from the chain.
		r.node.Reorg(6, func(id [32]byte) bool { return drop && id == txid })
		err = r.steps(3, nil)
		if !errors.Is(err, ErrDeepReorg) {
			t.Fatalf("drop=%v: after a deep reorg: %v", drop, err)
		}
		// The ledger refuses a second credit of the same transaction whatever block is named.
		if got := r.balance(bob.Address()); got != 2*btt {
			t.Fatalf("drop=%v: bob %d", drop, got)
		}
		r.checkSupply()
	}
}

func TestLyingNode(t *testing.T) {
	r, alice := depositFixture(t, 2)
	bob := r.user(0)
	mallory, _ := channel.GenerateKey()

	// 1. A transfer to the bridge "from" alice, signed by mallory.
	raw := tron.Raw{Expiration: tronstandin.GenesisTime + 1e9, Timestamp: 1, Data: []byte(bob.Address().String()),
		Transfer: tron.Transfer{Asset: tron.BTTAsset, Owner: alice.Address(), To: r.bridge.Address(), Amount: 5 * btt}}
	raw.RefBlock(1, [32]byte{})
	forged := tron.NewSignedTx(&raw, mallory)
	r.node.InjectUnchecked(forged, &raw)
	// 2. A real transfer whose bytes the node rewrites (amount 1 -> 9 BTT) in block answers,
	// keeping its id.
	txid, err := r.node.Transfer(alice, r.bridge.Address(), 1*btt, []byte(bob.Address().String()))
	if err != nil {
		t.Fatal(err)
	}
	r.node.Tamper = func(path string, body []byte) []byte {
		if path != "/wallet/getblockbynum" {
			return body
		}
		return rewriteAmount(t, body, txid)
	}
	r.node.Mine(1)
	r.steps(6, nil)
	if got := r.balance(bob.Address()); got != 0 {
		t.Fatalf("credited %d from lies", got)
	}
	// 3. The node claims a withdrawal's transaction is in a block that does not hold it.
	carol := r.user(3 * btt)
	w, err := r.lc.Withdraw(r.ctx, carol, carol.Address(), 3*btt)
	if err != nil {
		t.Fatal(err)
	}
	r.node.DropPool() // never mined
	r.node.Tamper = func(path string, body []byte) []byte {
		if path == "/wallet/gettransactioninfobyid" {
			return []byte(`{"id":"` + r.withdrawal(w.ID).TxID.String() + `","blockNumber":3,"blockTimeStamp":1}`)
		}
		return body
	}
	r.b.Step(r.ctx) // records and broadcasts the transaction
	r.node.DropPool()
	r.steps(5, nil)
	if st := r.withdrawal(w.ID).Status; st != ledger.WithdrawSigned {
		t.Fatalf("withdrawal %s on a lie", st)
	}
	r.node.Tamper = nil
	r.steps(40, func() bool { return r.withdrawal(w.ID).Status == ledger.WithdrawConfirmed })
	if got := r.node.Balance(carol.Address()); got != 3*btt {
		t.Fatalf("carol on chain: %d", got)
	}
}

// rewriteAmount changes the amount of transaction txid in a block answer, keeping its id.
func rewriteAmount(t *testing.T, body []byte, txid [32]byte) []byte {
	var b tron.BlockJSON
	if err := json.Unmarshal(body, &b); err != nil {
		return body
	}
	for i := range b.Transactions {
		tx := &b.Transactions[i]
		if tx.TxID != hex.EncodeToString(txid[:]) {
			continue
		}
		raw, _ := hex.DecodeString(tx.RawDataHex)
		r, err := tron.ParseRaw(raw)
		if err != nil {
			t.Fatal(err)
		}
		r.Transfer.Amount = 9 * btt
		tx.RawDataHex = hex.EncodeToString(r.Marshal())
		tx.RawData, _ = r.MarshalJSON()
	}
	out, _ := json.Marshal(b)
	return out
}
