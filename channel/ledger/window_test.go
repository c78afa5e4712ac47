package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
	"github.com/speedbt/btt/channel/ledger/pgstore"
	"github.com/speedbt/btt/internal/testutil"
)

const t0 = 1_800_000_000 // a Unix time for the tests' clocks

func at(sec uint64) time.Time { return time.Unix(int64(sec), 0) }

// wtreasury is the treasury key of the window tests' cores.
var wtreasury = func() *channel.PrivateKey {
	b := sha256.Sum256([]byte("window treasury"))
	k, _ := channel.NewPrivateKey(b[:])
	return k
}()

func windowCore(t *testing.T, window time.Duration) (*ledger.Core, *ledger.Data) {
	t.Helper()
	treasury := wtreasury
	cfg := ledger.DefaultCoreConfig
	cfg.ReceiptWindow = window
	g := ledger.Genesis(lid, treasury.Address())
	c, err := ledger.NewCore(cfg, g)
	if err != nil {
		t.Fatal(err)
	}
	return c, g
}

// xfer is a transfer from the treasury (its signature was checked by the HTTP layer; the
// core needs only a digest unique to the request).
func xfer(to channel.Address, nonce uint64) ledger.Transfer {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], nonce)
	copy(b[8:], to[:8])
	return ledger.Transfer{From: wtreasury.Address(), To: to, Amount: 1, Nonce: nonce, Digest: sha256.Sum256(b[:])}
}

// TestNonceWindow: requests must carry a nonce issued within the window; a replay inside
// the window answers the receipt, and once the window has passed it is refused by age, not
// applied again.
func TestNonceWindow(t *testing.T) {
	c, _ := windowCore(t, time.Minute)
	dst := key(t, 1).Address()
	nonce := uint64(t0) << 32
	first, err := c.Apply(at(t0), xfer(dst, nonce))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.Apply(at(t0+30), xfer(dst, nonce)); err != nil || string(again) != string(first) {
		t.Fatalf("replay in the window: %s, %v", again, err)
	}
	if _, err := c.Apply(at(t0), xfer(dst, uint64(t0-61)<<32)); !errors.Is(err, ledger.ErrExpired) {
		t.Fatalf("nonce older than the window: %v", err)
	}
	if _, err := c.Apply(at(t0), xfer(dst, uint64(t0+301)<<32)); !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("nonce from the future: %v", err)
	}
	if _, err := c.Apply(at(t0), xfer(dst, 7)); !errors.Is(err, ledger.ErrExpired) {
		t.Fatalf("nonce without a time: %v", err)
	}
	c.TakeChanges()
	if _, err := c.Apply(at(t0+62), ledger.Sweep{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Sizes(); n != 0 {
		t.Fatalf("%d receipts after the window", n)
	}
	if ch := c.TakeChanges(); ch.ExpireReceipts != t0+2 {
		t.Fatalf("store told to expire receipts before %d, want %d", ch.ExpireReceipts, t0+2)
	}
	if _, err := c.Apply(at(t0+62), xfer(dst, nonce)); !errors.Is(err, ledger.ErrExpired) {
		t.Fatalf("replay after the window: %v, want ErrExpired (not applied twice)", err)
	}
	if b, _ := c.Apply(at(t0+62), ledger.GetAccount{Address: dst}); string(b) == "" || !bytes.Contains(b, []byte(`"balance":"1"`)) {
		t.Fatalf("balance after the replays: %s", b)
	}
}

// TestWindowBoundsState runs 400 simulated seconds at 40 transfers and one channel opened
// and closed per second, with a 20 s window, committing every 10 s to a real store, and
// checks at every second (the store: after a commit every 100 s) the bound window.go states: receipts <= operations of the last
// window + 1 s (nonces are issued at the clock here), settled channels <= settlements of
// the last window + skew + 1 s, in the core and in the store.
func TestWindowBoundsState(t *testing.T) {
	stores := map[string]func(t *testing.T) ledger.Store{
		"bbolt": func(t *testing.T) ledger.Store {
			s, err := boltstore.Open(filepath.Join(t.TempDir(), "l.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) ledger.Store {
			pg := testutil.StartPostgres(t)
			s, err := pgstore.Open(context.Background(), pg.URL)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Elect(context.Background()); err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			defer st.Close()
			const window, perSec, seconds = 20, 40, 400 // longer than window + skew: channels get archived
			skew := uint64(ledger.MaxNonceSkew / time.Second)
			c, g := windowCore(t, window*time.Second)
			if err := st.Commit(ctx, g); err != nil {
				t.Fatal(err)
			}
			payer, payee, dst := key(t, 1), key(t, 2), key(t, 3).Address()
			fund := xfer(payer.Address(), uint64(t0)<<32|1<<31)
			fund.Amount = 1_000_000
			if _, err := c.Apply(at(t0), fund); err != nil {
				t.Fatal(err)
			}
			maxReceipts, maxChannels := 0, 0
			bound := (perSec+1)*(window+1) + 1 // the opens and transfers of window + 1 seconds, and the funding
			for s := uint64(t0); s < t0+seconds; s++ {
				now := at(s)
				for i := range perSec {
					if _, err := c.Apply(now, xfer(dst, s<<32|uint64(i))); err != nil {
						t.Fatal(err)
					}
				}
				o := openOp(payer, payee, 10, s<<32|1<<30, s+3600)
				if _, err := c.Apply(now, o); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Apply(now, closeOp(payer, payee, o.Open.ID(), 1, 4)); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Apply(now, ledger.Sweep{}); err != nil {
					t.Fatal(err)
				}
				if (s-t0)%10 == 9 { // a commit every 10 s: fsyncs are slow on a shared machine
					if err := st.Commit(ctx, c.TakeChanges()); err != nil {
						t.Fatal(err)
					}
				}
				r, ch := c.Sizes()
				maxReceipts, maxChannels = max(maxReceipts, r), max(maxChannels, ch)
				if r > bound || ch > window+int(skew)+1 {
					t.Fatalf("second %d: %d receipts, %d channels in memory; bound %d, %d", s-t0, r, ch, bound, window+skew+1)
				}
				if (s-t0)%100 == 99 {
					d, err := st.Load(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if len(d.Receipts) > bound {
						t.Fatalf("second %d: the store holds %d receipts, bound %d", s-t0, len(d.Receipts), bound)
					}
				}
			}
			if maxReceipts < perSec*window {
				t.Fatalf("at most %d receipts: the run never filled the window", maxReceipts)
			}
			if _, ch := c.Sizes(); ch >= seconds {
				t.Fatalf("%d channels in memory after %d s: none was archived", ch, seconds)
			}
			// Archived channels stay readable in the store.
			if ar, ok := st.(interface {
				Channel(context.Context, channel.ChannelID) (ledger.Channel, bool, error)
			}); ok {
				fo := openOp(payer, payee, 10, uint64(t0)<<32|1<<30, t0+3600)
				first := fo.Open.ID()
				if chn, found, err := ar.Channel(ctx, first); err != nil || !found || chn.Status != ledger.StatusClosed {
					t.Fatalf("archived channel from the store: %+v %v %v", chn, found, err)
				}
			}
			t.Logf("%d s at %d ops/s, window %d s: at most %d receipts and %d channels in memory", seconds, perSec+2, window, maxReceipts, maxChannels)
		})
	}
}

// TestArchivedChannelReads: once a settled channel leaves memory, the writer's view drops it
// from listings and a read by id finds it in the store; a replay of its open is refused by
// age, not applied again.
func TestArchivedChannelReads(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	tl := startLedgerOn(t, st, func(c *ledger.Config) { c.Core.ReceiptWindow = time.Minute })
	ctx := context.Background()
	alice, bob := key(t, 1), key(t, 2)
	if _, err := tl.c.Transfer(ctx, tl.treasury, alice.Address(), 10_000); err != nil {
		t.Fatal(err)
	}
	o := &ledger.OpenRequest{Payee: bob.Public(), Amount: 100, Nonce: ledger.U64(ledger.NonceAt(tl.now.Now())),
		Expiry: ledger.U64(tl.now.Now().Add(time.Hour).Unix())}
	o.Sign(tl.id, alice)
	var ch ledger.Channel
	if err := tl.c.Post(ctx, "/v1/channels", o, &ch); err != nil {
		t.Fatal(err)
	}
	v := channel.SignVoucher(alice, channel.Voucher{Channel: ch.ID, Sequence: 1, Cumulative: 30})
	if _, err := tl.c.CloseChannel(ctx, bob, alice.Public(), v); err != nil {
		t.Fatal(err)
	}
	tl.now.Add(time.Minute + ledger.MaxNonceSkew + 2*time.Second)
	deadline := time.Now().Add(time.Minute) // a hang guard: the sweeper runs every 20 ms
	for {
		l, err := tl.c.Channels(ctx, alice.Address())
		if err != nil {
			t.Fatal(err)
		}
		if len(l) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the settled channel never left the listing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := tl.c.Channel(ctx, ch.ID)
	if err != nil || got.Status != ledger.StatusClosed || got.Paid != 30 {
		t.Fatalf("archived channel by id: %+v, %v", got, err)
	}
	if err := tl.c.Post(ctx, "/v1/channels", o, nil); !errors.Is(err, ledger.ErrExpired) {
		t.Fatalf("replay of the archived channel's open: %v, want ErrExpired", err)
	}
	if a, _ := tl.c.Balance(ctx, alice.Address()); a.Balance != 10_000-30 {
		t.Fatalf("alice %d", a.Balance)
	}
}
