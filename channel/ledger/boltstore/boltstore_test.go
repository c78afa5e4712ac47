package boltstore_test

import (
	"bytes"
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

// Receipts written by earlier versions (keyed by address | nonce) still load, beside new
// ones; a receipt record of neither shape is corrupt.
func TestLoadLegacyReceipts(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "s.db")
	s, err := boltstore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	a := channel.Address{channel.AddressPrefix, 1}
	if err := s.Commit(ctx, &ledger.Data{Receipts: []ledger.Receipt{{Account: a, Nonce: 2, Digest: [32]byte{2}, Body: []byte(`{"n":2}`)}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	legacyKey := append(append([]byte(nil), a[:]...), 0, 0, 0, 0, 0, 0, 0, 1)
	legacyVal := append(append(make([]byte, 0, 40), bytes.Repeat([]byte{1}, 32)...), `{"n":1}`...)
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("receipts")).Put(legacyKey, legacyVal) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = boltstore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	byNonce := map[uint64]ledger.Receipt{}
	for _, r := range got.Receipts {
		byNonce[r.Nonce] = r
	}
	r1, r2 := byNonce[1], byNonce[2]
	if len(got.Receipts) != 2 || r1.Account != a || r1.Digest != [32]byte(bytes.Repeat([]byte{1}, 32)) || string(r1.Body) != `{"n":1}` ||
		r2.Account != a || r2.Digest != [32]byte{2} || string(r2.Body) != `{"n":2}` {
		t.Fatalf("loaded receipts %+v", got.Receipts)
	}

	db, _ = bolt.Open(p, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("receipts")).Put([]byte("12345678"), []byte("short")) })
	db.Close()
	s, _ = boltstore.Open(p)
	defer s.Close()
	if _, err := s.Load(ctx); !errors.Is(err, boltstore.ErrCorrupt) {
		t.Fatalf("Load of a corrupt receipt: %v, want ErrCorrupt", err)
	}
}
