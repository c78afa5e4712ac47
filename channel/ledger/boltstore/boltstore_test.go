package boltstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
)

func TestCommitLoad(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "s.db")
	s, err := boltstore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Load(ctx)
	if err != nil || d.Meta != nil || len(d.Accounts) != 0 {
		t.Fatalf("empty store: %+v, %v", d, err)
	}
	a := channel.Address{channel.AddressPrefix, 1}
	b := channel.Address{channel.AddressPrefix, 2}
	want := &ledger.Data{
		Meta:     &ledger.Meta{LedgerID: channel.LedgerID{3}, Treasury: a, FaucetIssued: 5},
		Accounts: map[channel.Address]ledger.AccountState{a: {Balance: 1 << 60, FaucetClaims: 0}, b: {Balance: 7, FaucetClaims: 1}},
		Channels: []ledger.Channel{{ID: channel.ChannelID{4}, PayerAddress: a, PayeeAddress: b, Amount: 9, Status: ledger.StatusOpen}},
		Receipts: []ledger.Receipt{{Account: a, Nonce: 1<<64 - 1, Digest: [32]byte{5}, Body: []byte(`{"x":1}`)}},
	}
	if err := s.Commit(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, &ledger.Data{Accounts: map[channel.Address]ledger.AccountState{b: {Balance: 8, FaucetClaims: 1}}}); err != nil {
		t.Fatal(err)
	}
	want.Accounts[b] = ledger.AccountState{Balance: 8, FaucetClaims: 1}
	s.Close()
	s, err = boltstore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Meta != *want.Meta || len(got.Accounts) != 2 || got.Accounts[a] != want.Accounts[a] || got.Accounts[b] != want.Accounts[b] ||
		len(got.Channels) != 1 || got.Channels[0].ID != want.Channels[0].ID || got.Channels[0].Amount != 9 ||
		len(got.Receipts) != 1 || got.Receipts[0].Nonce != want.Receipts[0].Nonce || string(got.Receipts[0].Body) != `{"x":1}` ||
		got.Receipts[0].Digest != want.Receipts[0].Digest {
		t.Fatalf("loaded %+v", got)
	}
	s.Close()
}

func TestLoadRejectsCorruptRecords(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "s.db")
	s, _ := boltstore.Open(p)
	s.Close()
	db, err := bolt.Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("accounts")).Put([]byte("short"), []byte{1}) })
	db.Close()
	s, _ = boltstore.Open(p)
	defer s.Close()
	if _, err := s.Load(ctx); !errors.Is(err, boltstore.ErrCorrupt) {
		t.Fatalf("Load of a corrupt account: %v, want ErrCorrupt", err)
	}
}
