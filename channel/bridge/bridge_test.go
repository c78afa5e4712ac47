package bridge_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/bridge"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/tron"
	"github.com/speedbt/btt/internal/bridgetest"
	"github.com/speedbt/btt/internal/tronstandin"
)

const btt = channel.UnitsPerBTT

func TestWithdrawThenDeposit(t *testing.T) {
	r := bridgetest.New(t, 3, 1_000*btt)
	alice, bob := r.User(10*btt), r.User(0)
	w, err := r.Ledger.Withdraw(r.Ctx, alice, alice.Address(), 4*btt)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Balance(alice.Address()); got != 6*btt {
		t.Fatalf("alice after withdrawing: %d", got)
	}
	r.CheckSupply()
	r.Steps(20, func() bool { return r.Withdrawal(w.ID).Status == ledger.WithdrawConfirmed })
	if got := r.Node.Balance(alice.Address()); got != 4*btt {
		t.Fatalf("alice on chain: %d", got)
	}
	if got := r.Node.Balance(r.BridgeKey.Address()); got != 996*btt {
		t.Fatalf("bridge on chain: %d", got)
	}
	// Alice sends 3 BTT back on chain, for Bob's ledger account.
	txid, err := r.Node.Transfer(alice, r.BridgeKey.Address(), 3*btt, []byte(bob.Address().String()))
	if err != nil {
		t.Fatal(err)
	}
	r.Steps(20, func() bool { return r.Balance(bob.Address()) == 3*btt })
	for range 5 { // more steps change nothing
		r.Steps(1, nil)
	}
	if got := r.Balance(bob.Address()); got != 3*btt {
		t.Fatalf("bob credited %d", got)
	}
	h, err := r.Ledger.History(r.Ctx, bob.Address())
	if err != nil || len(h.Deposits) != 1 || h.Deposits[0].TxID != ledger.Hash(txid) || h.Deposits[0].Status != ledger.DepositCredited {
		t.Fatalf("bob's history: %+v %v", h, err)
	}
	h, _ = r.Ledger.History(r.Ctx, alice.Address())
	if len(h.Withdrawals) != 1 || h.Withdrawals[0].TxID.IsZero() {
		t.Fatalf("alice's history: %+v", h)
	}
	if n := r.Node.Broadcasts(); n != 2 {
		t.Fatalf("%d transactions accepted by the node, want 2 (one withdrawal, one deposit)", n)
	}
}

// A transaction lost before any block took it is replaced once it expired, and the user
// is paid once.
func TestExpiredTransactionReplaced(t *testing.T) {
	r := bridgetest.New(t, 2, 100*btt)
	alice := r.User(5 * btt)
	w, err := r.Ledger.Withdraw(r.Ctx, alice, alice.Address(), 5*btt)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Bridge.Step(r.Ctx); err != nil {
		t.Fatal(err)
	}
	first := r.Withdrawal(w.ID)
	r.Node.DropPool()
	r.Node.Mine(25) // 75 s: past the 60 s expiration, with the confirmations
	// The bridge broadcasts the same transaction again only while it can still be included.
	r.Steps(30, func() bool { return r.Withdrawal(w.ID).Status == ledger.WithdrawConfirmed })
	last := r.Withdrawal(w.ID)
	if last.Attempt != 2 || last.TxID == first.TxID {
		t.Fatalf("attempt %d, txid %s (first %s)", last.Attempt, last.TxID, first.TxID)
	}
	if got := r.Node.Balance(alice.Address()); got != 5*btt {
		t.Fatalf("alice on chain: %d", got)
	}
}

func TestDepositWithoutLedgerAddress(t *testing.T) {
	r := bridgetest.New(t, 2, 100*btt)
	alice := r.User(10 * btt)
	w, _ := r.Ledger.Withdraw(r.Ctx, alice, alice.Address(), 10*btt)
	r.Steps(20, func() bool { return r.Withdrawal(w.ID).Status == ledger.WithdrawConfirmed })
	for _, memo := range []string{"", "hello", alice.Address().String()[:30], "T" + strings.Repeat("1", 33)} {
		if _, err := r.Node.Transfer(alice, r.BridgeKey.Address(), 1*btt, []byte(memo)); err != nil {
			t.Fatal(err)
		}
	}
	before := r.Balance(alice.Address())
	r.Node.Mine(1)
	r.Steps(6, nil)
	info, _ := r.Ledger.Bridge(r.Ctx)
	if r.Balance(alice.Address()) != before || info.Imported != 0 {
		t.Fatalf("credited without a ledger address: balance %d -> %d, imported %d", before, r.Balance(alice.Address()), info.Imported)
	}
}

// A deposit larger than what the ledger ever sent out would mint tokens: recorded, not credited.
func TestUnbackedDeposit(t *testing.T) {
	r := bridgetest.New(t, 2, 100*btt)
	outsider, _ := channel.GenerateKey()
	bob := r.User(0)
	// The bridge's hot wallet pays the outsider on chain outside the ledger (operator action).
	if _, err := r.Node.Transfer(r.BridgeKey, outsider.Address(), 50*btt, nil); err != nil {
		t.Fatal(err)
	}
	r.Node.Mine(1)
	if _, err := r.Node.Transfer(outsider, r.BridgeKey.Address(), 50*btt, []byte(bob.Address().String())); err != nil {
		t.Fatal(err)
	}
	r.Node.Mine(1)
	r.Steps(6, nil)
	h, _ := r.Ledger.History(r.Ctx, bob.Address())
	if r.Balance(bob.Address()) != 0 || len(h.Deposits) != 1 || h.Deposits[0].Status != ledger.DepositUnbacked {
		t.Fatalf("unbacked deposit: balance %d, history %+v", r.Balance(bob.Address()), h)
	}
}

// depositFixture withdraws 10 BTT to alice on chain, confirmed, so that deposits are backed.
func depositFixture(t *testing.T, conf int64) (*bridgetest.Rig, *channel.PrivateKey) {
	r := bridgetest.New(t, conf, 100*btt)
	alice := r.User(10 * btt)
	w, err := r.Ledger.Withdraw(r.Ctx, alice, alice.Address(), 10*btt)
	if err != nil {
		t.Fatal(err)
	}
	r.Steps(30, func() bool { return r.Withdrawal(w.ID).Status == ledger.WithdrawConfirmed })
	return r, alice
}

func TestShallowReorgCreditsOnce(t *testing.T) {
	r, alice := depositFixture(t, 3)
	bob := r.User(0)
	if _, err := r.Node.Transfer(alice, r.BridgeKey.Address(), 2*btt, []byte(bob.Address().String())); err != nil {
		t.Fatal(err)
	}
	r.Node.Mine(2) // in a block with one on top: not yet confirmed
	r.Steps(1, nil)
	r.Node.Reorg(2, nil) // the transaction moves to another block
	r.Steps(10, func() bool { return r.Balance(bob.Address()) == 2*btt })
	r.Steps(5, nil)
	if got := r.Balance(bob.Address()); got != 2*btt {
		t.Fatalf("bob: %d", got)
	}
}

func TestDeepReorgStops(t *testing.T) {
	for _, drop := range []bool{false, true} {
		r, alice := depositFixture(t, 2)
		bob := r.User(0)
		txid, err := r.Node.Transfer(alice, r.BridgeKey.Address(), 2*btt, []byte(bob.Address().String()))
		if err != nil {
			t.Fatal(err)
		}
		r.Steps(10, func() bool { return r.Balance(bob.Address()) == 2*btt })
		// Deeper than the confirmations: the block the ledger recorded is gone. Either the
		// deposit is mined again in another block, or it is gone from the chain.
		r.Node.Reorg(6, func(id [32]byte) bool { return drop && id == txid })
		err = r.Steps(3, nil)
		if !errors.Is(err, bridge.ErrDeepReorg) {
			t.Fatalf("drop=%v: after a deep reorg: %v", drop, err)
		}
		// The ledger refuses a second credit of the same transaction whatever block is named.
		if got := r.Balance(bob.Address()); got != 2*btt {
			t.Fatalf("drop=%v: bob %d", drop, got)
		}
		r.CheckSupply()
	}
}

func TestLyingNode(t *testing.T) {
	r, alice := depositFixture(t, 2)
	bob := r.User(0)
	mallory, _ := channel.GenerateKey()

	// 1. A transfer to the bridge "from" alice, signed by mallory.
	raw := tron.Raw{Expiration: tronstandin.GenesisTime + 1e9, Timestamp: 1, Data: []byte(bob.Address().String()),
		Transfer: tron.Transfer{Asset: tron.BTTAsset, Owner: alice.Address(), To: r.BridgeKey.Address(), Amount: 5 * btt}}
	raw.RefBlock(1, [32]byte{})
	forged := tron.NewSignedTx(&raw, mallory)
	r.Node.InjectUnchecked(forged, &raw)
	// 2. A real transfer whose bytes the node rewrites (amount 1 -> 9 BTT) in block answers,
	// keeping its id.
	txid, err := r.Node.Transfer(alice, r.BridgeKey.Address(), 1*btt, []byte(bob.Address().String()))
	if err != nil {
		t.Fatal(err)
	}
	r.Node.SetTamper(func(path string, body []byte) []byte {
		if path != "/wallet/getblockbynum" {
			return body
		}
		return rewriteAmount(t, body, txid)
	})
	r.Node.Mine(1)
	r.Steps(6, nil)
	if got := r.Balance(bob.Address()); got != 0 {
		t.Fatalf("credited %d from lies", got)
	}
	// 3. The node claims a withdrawal's transaction is in a block that does not hold it.
	carol := r.User(3 * btt)
	w, err := r.Ledger.Withdraw(r.Ctx, carol, carol.Address(), 3*btt)
	if err != nil {
		t.Fatal(err)
	}
	r.Node.DropPool() // never mined
	r.Node.SetTamper(func(path string, body []byte) []byte {
		if path == "/wallet/gettransactioninfobyid" {
			return []byte(`{"id":"` + r.Withdrawal(w.ID).TxID.String() + `","blockNumber":3,"blockTimeStamp":1}`)
		}
		return body
	})
	r.Bridge.Step(r.Ctx) // records and broadcasts the transaction
	r.Node.DropPool()
	r.Steps(5, nil)
	if st := r.Withdrawal(w.ID).Status; st != ledger.WithdrawSigned {
		t.Fatalf("withdrawal %s on a lie", st)
	}
	r.Node.SetTamper(nil)
	r.Steps(40, func() bool { return r.Withdrawal(w.ID).Status == ledger.WithdrawConfirmed })
	if got := r.Node.Balance(carol.Address()); got != 3*btt {
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
