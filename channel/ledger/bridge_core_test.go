package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/tron"
)

func newBridgeCore(t testing.TB, treasury, bridge *channel.PrivateKey) *ledger.Core {
	cfg := ledger.DefaultCoreConfig
	cfg.Bridge = bridge.Address()
	c, err := ledger.NewCore(cfg, ledger.Genesis(lid, treasury.Address()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func withdrawOp(k *channel.PrivateKey, to channel.Address, amount, nonce uint64) ledger.Withdraw {
	r := ledger.WithdrawRequest{To: to, Amount: ledger.U64(amount), Nonce: ledger.U64(nonce)}
	r.Sign(lid, k)
	return ledger.Withdraw{From: k.Address(), To: to, Amount: amount, Nonce: nonce, Digest: r.Digest(lid)}
}

// chainTx builds a signed TRC-10 transfer as a TRON wallet would.
func chainTx(owner *channel.PrivateKey, to channel.Address, amount int64, memo []byte, ts int64) (tron.SignedTx, *tron.Raw) {
	r := tron.Raw{Expiration: ts + 60_000, Timestamp: ts, Data: memo,
		Transfer: tron.Transfer{Asset: tron.BTTAsset, Owner: owner.Address(), To: to, Amount: amount}}
	r.RefBlock(ts/3000, [32]byte{byte(ts)})
	st := tron.NewSignedTx(&r, owner)
	return st, &r
}

func signTxOp(bridge *channel.PrivateKey, w ledger.Withdrawal, attempt uint32, ts int64) ledger.BridgeSignTx {
	st, raw := chainTx(bridge, w.To, int64(w.Amount), ledger.WithdrawalMemo(w.ID), ts)
	return ledger.BridgeSignTx{Signer: bridge.Address(), Withdrawal: w.ID, Attempt: attempt, Tx: st, Raw: raw}
}

// bridgeNow is the tests' clock, and tn a nonce issued then (Unix seconds in the high 32
// bits, as clients issue them), so that the operations are fresh for a ledger that refuses
// stale nonces.
var bridgeNow = time.Unix(1_800_000_000, 0)

func tn(i uint64) uint64 { return uint64(bridgeNow.Unix())<<32 | i }

func supply(t testing.TB, c *ledger.Core) {
	t.Helper()
	if s, err := c.SupplyTotal(); err != nil || s != channel.GenesisSupply {
		t.Fatalf("supply %d, want %d (%v)", s, channel.GenesisSupply, err)
	}
}

func TestBridgeRules(t *testing.T) {
	tr, alice, bob, br, mallory := key(t, 0), key(t, 1), key(t, 2), key(t, 3), key(t, 4)
	c := newBridgeCore(t, tr, br)
	now := bridgeNow
	apply := func(op ledger.Op, want error) []byte {
		t.Helper()
		b, err := c.Apply(now, op)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Fatalf("%T: %v, want %v", op, err, want)
		}
		supply(t, c)
		return b
	}
	apply(transferOp(tr, alice.Address(), 100, tn(1)), nil)
	apply(withdrawOp(alice, alice.Address(), 101, tn(1)), ledger.ErrInsufficientFunds)
	apply(withdrawOp(alice, br.Address(), 10, tn(1)), ledger.ErrInvalid)
	var w ledger.Withdrawal
	json.Unmarshal(apply(withdrawOp(alice, alice.Address(), 60, tn(2)), nil), &w)
	if w.Status != ledger.WithdrawPending || balance(t, c, alice.Address()) != 40 {
		t.Fatalf("withdrawal %+v, balance %d", w, balance(t, c, alice.Address()))
	}
	// Only the bridge may record, and only a transaction that pays exactly this withdrawal.
	op := signTxOp(br, w, 1, 1_000)
	bad := op
	bad.Signer = mallory.Address()
	apply(bad, ledger.ErrBadSignature)
	for _, mut := range []func(r *tron.Raw){
		func(r *tron.Raw) { r.Transfer.Amount++ },
		func(r *tron.Raw) { r.Transfer.To = bob.Address() },
		func(r *tron.Raw) { r.Transfer.Asset = "1000001" },
		func(r *tron.Raw) { r.Data = []byte("x") },
	} {
		raw := *op.Raw
		mut(&raw)
		st := tron.NewSignedTx(&raw, br)
		apply(ledger.BridgeSignTx{Signer: br.Address(), Withdrawal: w.ID, Attempt: 1, Tx: st, Raw: &raw}, ledger.ErrInvalid)
	}
	apply(signTxOp(br, w, 2, 1_000), ledger.ErrInvalid) // attempt 2 before attempt 1
	first := apply(op, nil)
	if again := apply(op, nil); !bytes.Equal(first, again) {
		t.Fatal("the same record twice answered differently")
	}
	json.Unmarshal(first, &w)
	apply(signTxOp(br, w, 2, w.Expiration), ledger.ErrInvalid) // not after the expiration
	apply(signTxOp(br, w, 3, w.Expiration+1), ledger.ErrInvalid)
	second := signTxOp(br, w, 2, w.Expiration+1)
	json.Unmarshal(apply(second, nil), &w)
	if w.Attempt != 2 || w.TxID != ledger.Hash(second.Tx.ID()) {
		t.Fatalf("attempt 2: %+v", w)
	}
	apply(ledger.BridgeConfirm{Signer: br.Address(), Withdrawal: w.ID, TxID: ledger.Hash(op.Tx.ID()), Block: 5}, ledger.ErrInvalid)
	conf := ledger.BridgeConfirm{Signer: br.Address(), Withdrawal: w.ID, TxID: w.TxID, Block: 5}
	apply(conf, nil)
	apply(conf, nil)
	apply(signTxOp(br, w, 3, w.Expiration+2), ledger.ErrChannelClosed)

	// Deposits: credited once per transaction, from what the ledger sent out only.
	st, raw := chainTx(alice, br.Address(), 25, []byte(" "+bob.Address().String()+"\n"), 9_000)
	dep := ledger.BridgeDeposit{Signer: br.Address(), Tx: st, Raw: raw, Block: 7}
	apply(dep, nil)
	dep.Block = 8 // reported again from another block
	apply(dep, nil)
	if got := balance(t, c, bob.Address()); got != 25 {
		t.Fatalf("bob: %d", got)
	}
	st, raw = chainTx(alice, br.Address(), 36, []byte(bob.Address().String()), 9_001) // 25 + 36 > 60 sent out
	var d ledger.Deposit
	json.Unmarshal(apply(ledger.BridgeDeposit{Signer: br.Address(), Tx: st, Raw: raw, Block: 9}, nil), &d)
	if d.Status != ledger.DepositUnbacked || balance(t, c, bob.Address()) != 25 {
		t.Fatalf("unbacked: %+v", d)
	}
	st, raw = chainTx(alice, br.Address(), 5, []byte("for bob"), 9_002)
	json.Unmarshal(apply(ledger.BridgeDeposit{Signer: br.Address(), Tx: st, Raw: raw, Block: 9}, nil), &d)
	if d.Status != ledger.DepositUnclaimed {
		t.Fatalf("no ledger address: %+v", d)
	}
	st, raw = chainTx(alice, bob.Address(), 5, []byte(bob.Address().String()), 9_003) // not to the bridge
	apply(ledger.BridgeDeposit{Signer: br.Address(), Tx: st, Raw: raw, Block: 9}, ledger.ErrInvalid)
	apply(ledger.BridgeDeposit{Signer: mallory.Address(), Tx: st, Raw: raw, Block: 9}, ledger.ErrBadSignature)

	apply(ledger.BridgeScan{Signer: br.Address(), Height: 10, Hash: ledger.Hash{1}}, nil)
	apply(ledger.BridgeScan{Signer: br.Address(), Height: 10, Hash: ledger.Hash{1}}, nil)
	apply(ledger.BridgeScan{Signer: br.Address(), Height: 10, Hash: ledger.Hash{2}}, ledger.ErrInvalid)
	apply(ledger.BridgeScan{Signer: br.Address(), Height: 9, Hash: ledger.Hash{1}}, ledger.ErrInvalid)

	// No bridge configured: no withdrawals.
	plain := newCore(t, tr)
	plain.Apply(now, transferOp(tr, alice.Address(), 100, tn(1)))
	if _, err := plain.Apply(now, withdrawOp(alice, alice.Address(), 1, tn(3))); !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("withdrawal without a bridge: %v", err)
	}
}

// TestBridgeProperty applies random transfers, withdrawals, bridge records, confirmations and
// deposits (many refused). After each, the supply invariant holds and a refused operation
// changed nothing; at the end, a core rebuilt from the accumulated changes (what a store
// holds) has the same state.
func TestBridgeProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 18))
	tr, br := key(t, 0), key(t, 3)
	users := []*channel.PrivateKey{key(t, 10), key(t, 11), key(t, 12), key(t, 13)}
	c := newBridgeCore(t, tr, br)
	stored := ledger.Genesis(lid, tr.Address())
	view, applyView := ledger.NewView(ledger.Genesis(lid, tr.Address()))
	now := bridgeNow
	var ws []ledger.Withdrawal
	var deps []ledger.BridgeDeposit
	nonce := uint64(1)
	for i := 0; i < 3000; i++ {
		u := users[rng.IntN(len(users))]
		var op ledger.Op
		switch rng.IntN(7) {
		case 0:
			op = transferOp(tr, u.Address(), rng.Uint64N(1000), tn(nonce))
		case 1:
			op = withdrawOp(u, u.Address(), rng.Uint64N(300), tn(nonce))
		case 2, 3:
			if len(ws) == 0 {
				continue
			}
			w := ws[rng.IntN(len(ws))]
			op = signTxOp(br, w, uint32(rng.IntN(3)), w.Expiration+int64(rng.IntN(3))-1)
		case 4:
			if len(ws) == 0 {
				continue
			}
			w := ws[rng.IntN(len(ws))]
			op = ledger.BridgeConfirm{Signer: br.Address(), Withdrawal: w.ID, TxID: w.TxID, Block: int64(i)}
		case 5:
			if len(deps) > 0 && rng.IntN(3) == 0 {
				op = deps[rng.IntN(len(deps))] // reported again
				break
			}
			memo := []byte(users[rng.IntN(len(users))].Address().String())
			if rng.IntN(4) == 0 {
				memo = memo[:rng.IntN(len(memo))]
			}
			st, raw := chainTx(u, br.Address(), 1+rng.Int64N(400), memo, int64(i))
			d := ledger.BridgeDeposit{Signer: br.Address(), Tx: st, Raw: raw, Block: int64(i)}
			deps = append(deps, d)
			op = d
		case 6:
			op = ledger.BridgeScan{Signer: br.Address(), Height: int64(i / 2), Hash: ledger.Hash{byte(i)}}
		}
		nonce++
		body, err := c.Apply(now, op)
		ch := c.TakeChanges()
		if err != nil && !ch.Empty() {
			t.Fatalf("op %d (%T) refused (%v) but changed state", i, op, err)
		}
		merge(stored, ch)
		applyView(ch)
		supply(t, c)
		if i%250 == 0 {
			sameAsView(t, c, view, br.Address(), users, ws)
		}
		var w ledger.Withdrawal
		if err == nil && json.Unmarshal(body, &w) == nil && !w.ID.IsZero() && w.From == u.Address() {
			found := false
			for j := range ws {
				if ws[j].ID == w.ID {
					ws[j], found = w, true
				}
			}
			if !found {
				ws = append(ws, w)
			}
		}
	}
	re, err := ledger.NewCore(c.Config(), stored)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range append(users, tr, br) {
		if balance(t, re, u.Address()) != balance(t, c, u.Address()) {
			t.Fatalf("reloaded balance of %s differs", u.Address())
		}
		h1, _ := c.Apply(now, ledger.GetHistory{Address: u.Address()})
		h2, _ := re.Apply(now, ledger.GetHistory{Address: u.Address()})
		if !bytes.Equal(h1, h2) {
			t.Fatalf("reloaded history of %s differs:\n%.500s\n%.500s", u.Address(), h1, h2)
		}
	}
	sameAsView(t, c, view, br.Address(), users, ws)
	b1, _ := c.Apply(now, ledger.GetBridge{})
	b2, _ := re.Apply(now, ledger.GetBridge{})
	if !bytes.Equal(b1, b2) {
		t.Fatalf("reloaded bridge differs:\n%.500s\n%.500s", b1, b2)
	}
	var info ledger.BridgeInfo
	json.Unmarshal(b1, &info)
	t.Logf("%d withdrawals (%d open), exported %d, imported %d", len(ws), len(info.Open), info.Exported, info.Imported)
	if info.Exported == 0 || info.Imported == 0 {
		t.Fatal("the random operations never confirmed a withdrawal or credited a deposit")
	}
}

// sameAsView checks that the committed view answers the bridge's reads (what the HTTP layer
// serves) with the bytes the core's own reads give.
func sameAsView(t *testing.T, c *ledger.Core, v ledger.BridgeReader, bridge channel.Address, users []*channel.PrivateKey, ws []ledger.Withdrawal) {
	t.Helper()
	ctx := context.Background()
	same := func(what string, want []byte, got any) {
		t.Helper()
		b, err := json.Marshal(got)
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("%s: view answers\n%.400s\ncore answers\n%.400s", what, b, want)
		}
	}
	for _, u := range users {
		want, _ := c.Apply(bridgeNow, ledger.GetHistory{Address: u.Address()})
		h, err := v.History(ctx, u.Address())
		if err != nil {
			t.Fatal(err)
		}
		same("history of "+u.Address().String(), want, &h)
	}
	for _, w := range ws {
		want, _ := c.Apply(bridgeNow, ledger.GetWithdrawal{ID: w.ID})
		got, ok, err := v.Withdrawal(ctx, w.ID)
		if err != nil || !ok {
			t.Fatalf("withdrawal %s not in the view: %v", w.ID, err)
		}
		same("withdrawal "+w.ID.String(), want, &got)
	}
	want, _ := c.Apply(bridgeNow, ledger.GetBridge{})
	in, err := v.BridgeState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in.Bridge, in.Asset = bridge, tron.BTTAsset
	same("bridge", want, in)
}

// merge applies a commit's changes to a whole state, as a store does.
func merge(d, ch *ledger.Data) {
	if ch.Meta != nil {
		d.Meta = ch.Meta
	}
	for a, s := range ch.Accounts {
		d.Accounts[a] = s
	}
	if ch.Bridge != nil {
		d.Bridge = ch.Bridge
	}
	upsertW := map[ledger.Hash]int{}
	for i, w := range d.Withdrawals {
		upsertW[w.ID] = i
	}
	for _, w := range ch.Withdrawals {
		if i, ok := upsertW[w.ID]; ok {
			d.Withdrawals[i] = w
		} else {
			upsertW[w.ID] = len(d.Withdrawals)
			d.Withdrawals = append(d.Withdrawals, w)
		}
	}
	upsertD := map[ledger.Hash]int{}
	for i, x := range d.Deposits {
		upsertD[x.TxID] = i
	}
	for _, x := range ch.Deposits {
		if i, ok := upsertD[x.TxID]; ok {
			d.Deposits[i] = x
		} else {
			upsertD[x.TxID] = len(d.Deposits)
			d.Deposits = append(d.Deposits, x)
		}
	}
	d.Receipts = append(d.Receipts, ch.Receipts...)
}
