package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/pgstore"
	"github.com/speedbt/btt/internal/testutil"
)

func addr(b byte) channel.Address {
	var a channel.Address
	a[0] = channel.AddressPrefix
	a[20] = b
	return a
}

func open(t *testing.T, url string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRoundTrip commits a genesis and a batch to a real PostgreSQL server and loads them
// back, through a second store (a restart), with the reads of a standby agreeing.
func TestRoundTrip(t *testing.T) {
	pg := testutil.StartPostgres(t)
	ctx := context.Background()
	s := open(t, pg.URL)
	if d, err := s.Load(ctx); err != nil || d.Meta != nil || len(d.Accounts) != 0 {
		t.Fatalf("empty load: %+v, %v", d, err)
	}
	if err := s.Commit(ctx, ledger.Genesis(channel.LedgerID{1}, addr(1))); !errors.Is(err, pgstore.ErrNotWriter) {
		t.Fatalf("commit before election: %v, want ErrNotWriter", err)
	}
	if err := s.Elect(ctx); err != nil {
		t.Fatal(err)
	}
	g := ledger.Genesis(channel.LedgerID{1}, addr(1))
	if err := s.Commit(ctx, g); err != nil {
		t.Fatal(err)
	}
	var payer, payee channel.PublicKey
	payer[0], payee[0] = 2, 3
	ch := ledger.Channel{ID: channel.ChannelID{9}, Payer: payer, Payee: payee, PayerAddress: addr(2), PayeeAddress: addr(3),
		Amount: 500, Nonce: 1<<63 + 5, Expiry: 1e9, Status: ledger.StatusOpen, OpenedAt: 100}
	batch := &ledger.Data{
		Meta: &ledger.Meta{LedgerID: channel.LedgerID{1}, Treasury: addr(1), FaucetIssued: 10},
		Accounts: map[channel.Address]ledger.AccountState{
			addr(1): {Balance: channel.GenesisSupply - 1500},
			addr(2): {Balance: 1000, FaucetClaims: 1},
		},
		Channels: []ledger.Channel{ch},
		Receipts: []ledger.Receipt{{Account: addr(2), Nonce: 1<<64 - 1, Digest: [32]byte{7}, Body: []byte(`{"x":1}`)}},
	}
	if err := s.Commit(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// The same receipt twice is refused whole: nothing of the batch is applied.
	dup := &ledger.Data{Accounts: map[channel.Address]ledger.AccountState{addr(4): {Balance: 1}}, Receipts: batch.Receipts}
	if err := s.Commit(ctx, dup); err == nil {
		t.Fatal("duplicate receipt committed")
	}

	s2 := open(t, pg.URL)
	d, err := s2.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := &ledger.Data{Meta: batch.Meta, Accounts: batch.Accounts, Channels: batch.Channels, Receipts: batch.Receipts}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Fatalf("loaded state differs (-want +got):\n%s", diff)
	}
	if st, ok, err := s2.Account(ctx, addr(2)); err != nil || !ok || st.Balance != 1000 {
		t.Fatalf("standby account read: %+v %v %v", st, ok, err)
	}
	if _, ok, err := s2.Account(ctx, addr(4)); err != nil || ok {
		t.Fatalf("account of the refused batch exists: %v %v", ok, err)
	}
	if got, err := s2.Channels(ctx, addr(3), ledger.Cursor{}, 10); err != nil || len(got) != 1 || got[0].ID != ch.ID {
		t.Fatalf("standby listing: %+v %v", got, err)
	}
	if got, err := s2.Channels(ctx, addr(3), ledger.Cursor{OpenedAt: 100, ID: ch.ID}, 10); err != nil || len(got) != 0 {
		t.Fatalf("listing after the last: %+v %v", got, err)
	}
	sum, err := s2.Summary(ctx)
	if err != nil || sum.Total != channel.GenesisSupply || sum.Accounts != 2 || sum.OpenChannels != 1 {
		t.Fatalf("summary %+v %v", sum, err)
	}
}

// TestFence: a second process's election ends the first writer's ability to commit, even
// though the first never noticed it lost anything.
func TestFence(t *testing.T) {
	pg := testutil.StartPostgres(t)
	ctx := context.Background()
	a, b := open(t, pg.URL), open(t, pg.URL)
	if err := a.Elect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx, ledger.Genesis(channel.LedgerID{1}, addr(1))); err != nil {
		t.Fatal(err)
	}
	// b cannot be elected while a holds the lock.
	short, cancel := context.WithTimeout(ctx, 3*pgstore.ElectPoll)
	err := b.Elect(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second election while the first holds the lock: %v", err)
	}
	// a's lock session dies (as when its connection is cut); b takes over.
	pg.SQL(t, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted`)
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := b.Elect(ctx2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("the first writer did not notice it lost the lock")
	}
	up := &ledger.Data{Accounts: map[channel.Address]ledger.AccountState{addr(5): {Balance: 1}}}
	if err := a.Commit(ctx, up); !errors.Is(err, pgstore.ErrNotWriter) {
		t.Fatalf("deposed writer's commit: %v, want ErrNotWriter", err)
	}
	if err := b.Commit(ctx, up); err != nil {
		t.Fatalf("new writer's commit: %v", err)
	}
}
