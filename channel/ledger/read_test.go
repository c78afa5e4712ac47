package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
)

// gatedStore is a real bbolt store whose commits wait, when the gate is armed, until the
// test opens it: a writer stuck in a slow commit.
type gatedStore struct {
	ledger.Store
	armed chan struct{} // receives once per commit that should wait
	open  chan struct{}
}

func (g *gatedStore) Commit(ctx context.Context, d *ledger.Data) error {
	select {
	case <-g.armed:
		<-g.open
	default:
	}
	return g.Store.Commit(ctx, d)
}

// hold arms the gate, runs write (which must commit) in the background and returns once the
// writer is inside that commit; the result comes on the channel after g.open is closed.
func (g *gatedStore) hold(write func() error) <-chan error {
	g.armed <- struct{}{}
	done := make(chan error, 1)
	go func() { done <- write() }()
	// Wait until the writer holds the commit (the armed token was taken).
	for len(g.armed) > 0 {
		time.Sleep(time.Millisecond)
	}
	return done
}

// TestReadsDoNotWaitForWriter holds the writer inside a commit and reads: every read is
// answered, from the committed state (not the transfer being committed).
func TestReadsDoNotWaitForWriter(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedStore{Store: st, armed: make(chan struct{}, 1), open: make(chan struct{})}
	tl := startLedgerOn(t, g)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard only
	defer cancel()
	dst := key(t, 1).Address()
	if _, err := tl.c.Transfer(ctx, tl.treasury, dst, 7); err != nil {
		t.Fatal(err)
	}
	done := g.hold(func() error {
		_, err := tl.c.Transfer(ctx, tl.treasury, dst, 5)
		return err
	})
	for range 50 {
		acc, err := tl.c.Balance(ctx, dst)
		if err != nil || acc.Balance != 7 {
			t.Fatalf("read during a held commit: %+v, %v (want the committed 7)", acc, err)
		}
		if in, err := tl.c.Info(ctx); err != nil || in.Total != in.Supply || in.Accounts != 2 {
			t.Fatalf("info during a held commit: %+v, %v", in, err)
		}
		if _, err := tl.c.Channels(ctx, dst); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the transfer finished while its commit was held: %v", err)
	default:
	}
	close(g.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if acc, err := tl.c.Balance(ctx, dst); err != nil || acc.Balance != 12 {
		t.Fatalf("after the commit: %+v, %v", acc, err)
	}
}

// TestBridgeReadsDoNotWaitForWriter holds the writer inside a commit and reads the bridge's
// records: they are answered, from the committed state.
func TestBridgeReadsDoNotWaitForWriter(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedStore{Store: st, armed: make(chan struct{}, 1), open: make(chan struct{})}
	bridge, user := key(t, 40), key(t, 41)
	tl := startLedgerOn(t, g, func(c *ledger.Config) { c.Core.Bridge = bridge.Address() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard only
	defer cancel()
	if _, err := tl.c.Transfer(ctx, tl.treasury, user.Address(), 100); err != nil {
		t.Fatal(err)
	}
	wd, err := tl.c.Withdraw(ctx, user, user.Address(), 30)
	if err != nil {
		t.Fatal(err)
	}
	done := g.hold(func() error {
		_, err := tl.c.Withdraw(ctx, user, user.Address(), 20)
		return err
	})
	for range 20 {
		if got, err := tl.c.Withdrawal(ctx, wd.ID); err != nil || got != wd {
			t.Fatalf("withdrawal during a held commit: %+v, %v (want %+v)", got, err, wd)
		}
		if h, err := tl.c.History(ctx, user.Address()); err != nil || len(h.Withdrawals) != 1 || h.Withdrawals[0] != wd {
			t.Fatalf("history during a held commit: %+v, %v (want the one committed withdrawal)", h, err)
		}
		if b, err := tl.c.Bridge(ctx); err != nil || b.InFlight != 30 || len(b.Open) != 1 || b.Bridge != bridge.Address() {
			t.Fatalf("bridge during a held commit: %+v, %v", b, err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the withdrawal finished while its commit was held: %v", err)
	default:
	}
	close(g.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, err := tl.c.Bridge(ctx); err != nil || b.InFlight != 50 || len(b.Open) != 2 {
		t.Fatalf("bridge after the commit: %+v, %v", b, err)
	}
}

// TestUnfundedNeverReachesWriter: every request a fresh key can make is answered without
// the writer (its operation counter does not move) and creates no state.
func TestUnfundedNeverReachesWriter(t *testing.T) {
	ctx := context.Background()
	tl := startLedger(t, filepath.Join(t.TempDir(), "l.db"))
	fresh, other := key(t, 11), key(t, 12)
	before, info := tl.l.Stats(), tl.info(t)
	if a, err := tl.c.CreateAccount(ctx, fresh); err != nil || a.Balance != 0 {
		t.Fatalf("create account: %+v, %v", a, err)
	}
	if _, err := tl.c.Transfer(ctx, fresh, other.Address(), 1); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("unfunded transfer: %v", err)
	}
	if _, err := tl.c.OpenChannel(ctx, fresh, other.Public(), 1, time.Now().Add(time.Hour)); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("unfunded open: %v", err)
	}
	v := channel.SignVoucher(fresh, channel.Voucher{Channel: channel.ChannelID{1}, Sequence: 1, Cumulative: 0})
	if _, err := tl.c.CloseChannel(ctx, other, fresh.Public(), v); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("close of an unknown channel: %v", err)
	}
	tx := &ledger.TransferRequest{To: other.Address(), Amount: 1, Nonce: 1}
	tx.Sign(tl.id, fresh)
	res, err := tl.c.Batch(ctx, []ledger.BatchOp{{Transfer: tx}})
	if err != nil || !errors.Is(res[0].Err(), ledger.ErrInsufficientFunds) {
		t.Fatalf("unfunded batch: %+v, %v", res, err)
	}
	if after := tl.l.Stats(); after.Ops != before.Ops {
		t.Fatalf("the writer saw %d operations from an unfunded key", after.Ops-before.Ops)
	}
	if in := tl.info(t); in.Accounts != info.Accounts {
		t.Fatalf("accounts %d -> %d", info.Accounts, in.Accounts)
	}
}

// TestChannelPages lists 250 channels of one address in pages of at most MaxPage.
func TestChannelPages(t *testing.T) {
	ctx := context.Background()
	tl := startLedger(t, filepath.Join(t.TempDir(), "l.db"))
	alice, bob := key(t, 1), key(t, 2)
	if _, err := tl.c.Transfer(ctx, tl.treasury, alice.Address(), 1_000_000); err != nil {
		t.Fatal(err)
	}
	const n = 250
	ops := make([]ledger.BatchOp, n)
	for i := range ops {
		o := &ledger.OpenRequest{Payee: bob.Public(), Amount: 10, Nonce: ledger.U64(i), Expiry: ledger.U64(time.Now().Add(time.Hour).Unix())}
		o.Sign(tl.id, alice)
		ops[i] = ledger.BatchOp{Open: o}
	}
	if res, err := tl.c.Batch(ctx, ops); err != nil || res[n-1].Err() != nil {
		t.Fatalf("opens: %v", err)
	}
	var sizes []int
	seen := map[channel.ChannelID]bool{}
	var last ledger.Cursor
	for after := ""; ; {
		l, err := tl.c.ChannelsPage(ctx, bob.Address(), after, 0)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(l.Channels))
		for _, c := range l.Channels {
			cur := ledger.Cursor{OpenedAt: c.OpenedAt, ID: c.ID}
			if seen[c.ID] || cur.String() <= last.String() && cur.OpenedAt == last.OpenedAt {
				t.Fatalf("channel %s repeated or out of order", c.ID)
			}
			seen[c.ID], last = true, cur
		}
		if l.Next == "" {
			break
		}
		after = l.Next
	}
	if len(seen) != n || len(sizes) != 3 || sizes[0] != ledger.MaxPage || sizes[2] != n-2*ledger.MaxPage {
		t.Fatalf("pages %v, %d distinct channels", sizes, len(seen))
	}
	if all, err := tl.c.Channels(ctx, alice.Address()); err != nil || len(all) != n {
		t.Fatalf("Channels: %d, %v", len(all), err)
	}
	var e ledger.Error
	resp, err := http.Get(tl.srv.URL + "/v1/channels?address=" + bob.Address().String() + "&limit=101")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 400 || e.Code != "bad_request" {
		t.Fatalf("limit above the maximum: %d %+v", resp.StatusCode, e)
	}
}

// TestRateLimit: one client address gets its burst, then 429 until tokens refill.
func TestRateLimit(t *testing.T) {
	tl := startLedger(t, filepath.Join(t.TempDir(), "l.db"))
	s := ledger.NewServer(ledger.ServerConfig{ID: tl.id, Core: tl.l.Config().Core, Reader: tl.l.Reader(), RatePerIP: 0.001, BurstPerIP: 3})
	s.SetWriter(tl.l)
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := ledger.NewClient(srv.URL, srv.Client())
	for i := range 3 {
		if _, err := c.Info(context.Background()); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	if _, err := c.Info(context.Background()); !errors.Is(err, ledger.ErrRateLimited) {
		t.Fatalf("request beyond the burst: %v, want ErrRateLimited", err)
	}
	// Faucet claims have their own, stricter budget, spent before any work is checked.
	s = ledger.NewServer(ledger.ServerConfig{ID: tl.id, Core: tl.l.Config().Core, Reader: tl.l.Reader(), FaucetPerIP: 0.001, FaucetBurstPerIP: 1})
	s.SetWriter(tl.l)
	fsrv := httptest.NewServer(s)
	defer fsrv.Close()
	fc := ledger.NewClient(fsrv.URL, fsrv.Client())
	if _, err := fc.Faucet(context.Background(), key(t, 30)); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if _, err := fc.Faucet(context.Background(), key(t, 31)); !errors.Is(err, ledger.ErrRateLimited) {
		t.Fatalf("second claim from the same address: %v, want ErrRateLimited", err)
	}
	if _, err := fc.Info(context.Background()); err != nil {
		t.Fatalf("other requests stay allowed: %v", err)
	}
}
