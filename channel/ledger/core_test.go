package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

func key(t testing.TB, seed int) *channel.PrivateKey {
	t.Helper()
	b := sha256.Sum256([]byte{byte(seed), byte(seed >> 8), 'k'})
	k, err := channel.NewPrivateKey(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var lid = channel.LedgerID{1, 2, 3}

func newCore(t testing.TB, treasury *channel.PrivateKey) *ledger.Core {
	cfg := ledger.DefaultCoreConfig
	cfg.ReceiptWindow = 0 // fixed small nonces; window_test.go tests the window
	cfg.FaucetBits = 0
	cfg.FaucetSpentBits = 0 // a 25 BTT budget would need bits; faucet_test.go tests the difficulty
	cfg.FaucetBudget = 25 * channel.UnitsPerBTT
	c, err := ledger.NewCore(cfg, ledger.Genesis(lid, treasury.Address()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func transferOp(k *channel.PrivateKey, to channel.Address, amount, nonce uint64) ledger.Transfer {
	return transferOpOn(lid, k, to, amount, nonce)
}

func transferOpOn(id channel.LedgerID, k *channel.PrivateKey, to channel.Address, amount, nonce uint64) ledger.Transfer {
	r := ledger.TransferRequest{To: to, Amount: ledger.U64(amount), Nonce: ledger.U64(nonce)}
	r.Sign(id, k)
	return ledger.Transfer{From: k.Address(), To: to, Amount: amount, Nonce: nonce, Digest: r.Digest(id)}
}

func openOp(payer, payee *channel.PrivateKey, amount, nonce, expiry uint64) ledger.OpenChannel {
	return ledger.OpenChannel{
		Open:         channel.Open{Ledger: lid, Payer: payer.Public(), Payee: payee.Public(), Amount: amount, Nonce: nonce, Expiry: expiry},
		PayerAddress: payer.Address(), PayeeAddress: payee.Address(),
	}
}

func closeOp(payer, payee *channel.PrivateKey, id channel.ChannelID, seq, cum uint64) ledger.CloseChannel {
	v := channel.SignVoucher(payer, channel.Voucher{Channel: id, Sequence: seq, Cumulative: cum})
	return ledger.CloseChannel{Close: channel.SignClose(payee, v), Payer: payer.Public(), Payee: payee.Public()}
}

func balance(t testing.TB, c *ledger.Core, a channel.Address) uint64 {
	t.Helper()
	b, err := c.Apply(time.Now(), ledger.GetAccount{Address: a})
	if err != nil {
		t.Fatal(err)
	}
	var acc ledger.Account
	if err := json.Unmarshal(b, &acc); err != nil {
		t.Fatal(err)
	}
	return uint64(acc.Balance)
}

func TestCoreScenario(t *testing.T) {
	tr, alice, bob := key(t, 0), key(t, 1), key(t, 2)
	c := newCore(t, tr)
	now := time.Unix(1_800_000_000, 0)
	exp := uint64(now.Unix()) + 600
	mustOK := func(op ledger.Op) []byte {
		t.Helper()
		b, err := c.Apply(now, op)
		if err != nil {
			t.Fatalf("%T: %v", op, err)
		}
		c.TakeChanges()
		return b
	}
	mustErr := func(op ledger.Op, want error) {
		t.Helper()
		if _, err := c.Apply(now, op); !errors.Is(err, want) {
			t.Fatalf("%T: %v, want %v", op, err, want)
		}
		if ch := c.TakeChanges(); !ch.Empty() {
			t.Fatalf("%T failed but changed state: %+v", op, ch)
		}
	}
	mustOK(transferOp(tr, alice.Address(), 1000, 1))
	first := mustOK(transferOp(tr, alice.Address(), 500, 2))
	// Replay: same bytes, applied once.
	if again := mustOK(transferOp(tr, alice.Address(), 500, 2)); !bytes.Equal(first, again) {
		t.Fatalf("replay answered %s, first %s", again, first)
	}
	if got := balance(t, c, alice.Address()); got != 1500 {
		t.Fatalf("alice %d, want 1500", got)
	}
	mustErr(transferOp(tr, alice.Address(), 501, 2), ledger.ErrNonceReused)
	mustErr(transferOp(alice, bob.Address(), 1501, 1), ledger.ErrInsufficientFunds)
	mustErr(transferOp(alice, bob.Address(), 0, 1), ledger.ErrInvalid)
	mustErr(transferOp(alice, alice.Address(), 1, 1), ledger.ErrInvalid)

	open := openOp(alice, bob, 1000, 7, exp)
	mustOK(open)
	id := open.Open.ID()
	mustErr(openOp(alice, bob, 501, 8, exp), ledger.ErrInsufficientFunds)
	mustErr(openOp(alice, bob, 1, 9, uint64(now.Unix())), ledger.ErrExpired)
	mustErr(openOp(alice, bob, 1, 10, exp+365*86400), ledger.ErrInvalid)
	mustErr(openOp(alice, alice, 1, 11, exp), ledger.ErrInvalid)
	wrongLedger := openOp(alice, bob, 1, 12, exp)
	wrongLedger.Open.Ledger[0] ^= 1
	mustErr(wrongLedger, ledger.ErrInvalid)

	mustErr(closeOp(alice, bob, id, 1, 1001), ledger.ErrInvalid) // above deposit
	mustErr(closeOp(alice, bob, id, 0, 1), ledger.ErrInvalid)    // sequence 0
	mustErr(closeOp(alice, bob, channel.ChannelID{9}, 1, 1), ledger.ErrNotFound)
	wrongKeys := closeOp(alice, bob, id, 1, 1)
	wrongKeys.Payee = tr.Public()
	mustErr(wrongKeys, ledger.ErrBadSignature)
	closed := mustOK(closeOp(alice, bob, id, 3, 400))
	if again := mustOK(closeOp(alice, bob, id, 3, 400)); !bytes.Equal(closed, again) {
		t.Fatalf("close replay answered differently")
	}
	mustErr(closeOp(alice, bob, id, 4, 900), ledger.ErrChannelClosed) // close twice
	if a, b := balance(t, c, alice.Address()), balance(t, c, bob.Address()); a != 1100 || b != 400 {
		t.Fatalf("after close alice %d bob %d, want 1100 400", a, b)
	}

	// Expiry: close refused at the deadline, the sweeper refunds in full.
	open2 := openOp(alice, bob, 100, 20, exp)
	mustOK(open2)
	later := time.Unix(int64(exp), 0)
	if _, err := c.Apply(later, closeOp(alice, bob, open2.Open.ID(), 1, 50)); !errors.Is(err, ledger.ErrExpired) {
		t.Fatalf("close at expiry: %v", err)
	}
	if _, err := c.Apply(later, ledger.Sweep{}); err != nil {
		t.Fatal(err)
	}
	c.TakeChanges()
	if a := balance(t, c, alice.Address()); a != 1100 {
		t.Fatalf("after sweep alice %d, want 1100", a)
	}
	mustErr(closeOp(alice, bob, open2.Open.ID(), 1, 50), ledger.ErrChannelClosed)

	// Faucet: once per address, budget of 25 BTT = 2 grants of 10.
	faucet := func(k *channel.PrivateKey, nonce uint64) ledger.Faucet {
		r := ledger.FaucetRequest{PubKey: k.Public(), Nonce: ledger.U64(nonce)}
		return ledger.Faucet{Address: k.Address(), Nonce: nonce, Digest: r.Digest(lid)}
	}
	mustOK(faucet(key(t, 50), 1))
	mustErr(faucet(key(t, 50), 2), ledger.ErrFaucetLimit)
	mustOK(faucet(key(t, 51), 1))
	mustErr(faucet(key(t, 52), 1), ledger.ErrFaucetLimit) // budget
	if total, _ := c.Total(); total != channel.GenesisSupply {
		t.Fatalf("total %d", total)
	}
}

// TestCoreSupplyProperty drives the core with random operations, valid and not, replays
// and sweeps, and checks after every step that the total supply is unchanged, that failed
// operations change nothing and that replays answer the same bytes.
func TestCoreSupplyProperty(t *testing.T) {
	keys := make([]*channel.PrivateKey, 6)
	for i := range keys {
		keys[i] = key(t, 100+i)
	}
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 1))
		tr := key(t, 0)
		c := newCore(t, tr)
		now := time.Unix(1_800_000_000, 0)
		for i, k := range keys {
			if _, err := c.Apply(now, transferOp(tr, k.Address(), 10_000, uint64(i))); err != nil {
				t.Fatal(err)
			}
		}
		c.TakeChanges()
		type done struct {
			op   ledger.Op
			body []byte
		}
		var history []done
		var opens []ledger.OpenChannel
		for step := range 300 {
			now = now.Add(time.Duration(r.IntN(20)) * time.Second)
			a, b := keys[r.IntN(len(keys))], keys[r.IntN(len(keys))]
			var op ledger.Op
			switch r.IntN(6) {
			case 0, 1:
				op = transferOp(a, b.Address(), uint64(r.IntN(3000)), r.Uint64N(50))
			case 2:
				o := openOp(a, b, uint64(r.IntN(3000)), r.Uint64N(50), uint64(now.Unix())+uint64(r.IntN(120)))
				opens = append(opens, o)
				op = o
			case 3:
				if len(opens) == 0 {
					continue
				}
				o := opens[r.IntN(len(opens))]
				payer, payee := keyOf(keys, o.Open.Payer), keyOf(keys, o.Open.Payee)
				if payer == nil || payee == nil {
					continue
				}
				op = closeOp(payer, payee, o.Open.ID(), r.Uint64N(3), r.Uint64N(o.Open.Amount+2))
			case 4:
				op = ledger.Sweep{}
			case 5:
				if len(history) == 0 {
					continue
				}
				h := history[r.IntN(len(history))]
				body, err := c.Apply(now, h.op)
				_, isClose := h.op.(ledger.CloseChannel)
				if err != nil && !isClose || err == nil && !bytes.Equal(body, h.body) {
					t.Fatalf("seed %d step %d: replay of %T: %v, %s vs %s", seed, step, h.op, err, body, h.body)
				}
				if ch := c.TakeChanges(); !ch.Empty() {
					t.Fatalf("seed %d step %d: replay changed state", seed, step)
				}
				continue
			}
			body, err := c.Apply(now, op)
			changes := c.TakeChanges()
			if err != nil && !changes.Empty() {
				t.Fatalf("seed %d step %d: failed %T (%v) changed state", seed, step, op, err)
			}
			if err == nil {
				if _, ok := op.(ledger.Sweep); !ok {
					history = append(history, done{op, body})
				}
			}
			total, terr := c.Total()
			if terr != nil || total != channel.GenesisSupply {
				t.Fatalf("seed %d step %d: after %T total %d (%v), want %d", seed, step, op, total, terr, channel.GenesisSupply)
			}
		}
	}
}

func keyOf(keys []*channel.PrivateKey, p channel.PublicKey) *channel.PrivateKey {
	for _, k := range keys {
		if k.Public() == p {
			return k
		}
	}
	return nil
}

func TestNewCoreRejectsBadSupply(t *testing.T) {
	d := ledger.Genesis(lid, key(t, 0).Address())
	d.Accounts[key(t, 1).Address()] = ledger.AccountState{Balance: 1}
	if _, err := ledger.NewCore(ledger.DefaultCoreConfig, d); !errors.Is(err, ledger.ErrSupply) {
		t.Fatalf("NewCore with an extra token: %v, want ErrSupply", err)
	}
}

func TestU64JSON(t *testing.T) {
	for in, want := range map[string]uint64{`0`: 0, `"0"`: 0, `123`: 123, `"18446744073709551615"`: 1<<64 - 1} {
		var n ledger.U64
		if err := json.Unmarshal([]byte(in), &n); err != nil || uint64(n) != want {
			t.Errorf("%s -> %d, %v", in, n, err)
		}
	}
	for _, in := range []string{`1.5`, `1e3`, `-1`, `"-1"`, `""`, `"01"`, `18446744073709551616`, `true`, `"0x1"`, `" 1"`, `null`} {
		var n ledger.U64
		if err := json.Unmarshal([]byte(in), &n); err == nil && in != `null` {
			t.Errorf("%s accepted as %d", in, n)
		}
	}
}
