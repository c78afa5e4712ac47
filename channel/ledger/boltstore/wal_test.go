package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
)

// batches is a history of n batches like the ledger's: a transfer each (two accounts, one
// receipt), a channel every tenth, receipts of the first ten expired at batch n/2.
func batches(n int) []*ledger.Data {
	var ds []*ledger.Data
	for i := range n {
		a := channel.Address{channel.AddressPrefix, byte(i % 7)}
		b := channel.Address{channel.AddressPrefix, 100 + byte(i%5)}
		d := &ledger.Data{
			Accounts: map[channel.Address]ledger.AccountState{a: {Balance: uint64(1000 - i)}, b: {Balance: uint64(i), FaucetClaims: uint32(i % 3)}},
			Receipts: []ledger.Receipt{{Account: a, Nonce: ledger.NonceAt(time.Unix(1_800_000_000, 0)) + uint64(i), Digest: [32]byte{byte(i)}, Body: fmt.Appendf(nil, `{"i":%d}`, i)}},
		}
		if i == 0 {
			d.Meta = &ledger.Meta{LedgerID: channel.LedgerID{9}, Treasury: a}
		}
		if i%10 == 0 {
			d.Channels = []ledger.Channel{{ID: channel.ChannelID{byte(i / 10 % 3)}, PayerAddress: a, PayeeAddress: b, Amount: ledger.U64(i), Status: ledger.StatusOpen}}
		}
		ds = append(ds, d)
	}
	return ds
}

// fold is what the history leaves: the last value of every key.
func fold(ds []*ledger.Data) (map[channel.Address]ledger.AccountState, map[channel.ChannelID]ledger.Channel, int) {
	acc := map[channel.Address]ledger.AccountState{}
	chs := map[channel.ChannelID]ledger.Channel{}
	receipts := 0
	for _, d := range ds {
		for a, st := range d.Accounts {
			acc[a] = st
		}
		for _, c := range d.Channels {
			chs[c.ID] = c
		}
		receipts += len(d.Receipts)
	}
	return acc, chs, receipts
}

func commitAll(t *testing.T, s *boltstore.Store, ds []*ledger.Data) {
	t.Helper()
	for _, d := range ds {
		if err := s.Commit(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
}

func checkLoad(t *testing.T, s *boltstore.Store, ds []*ledger.Data) {
	t.Helper()
	got, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	acc, chs, receipts := fold(ds)
	if got.Meta == nil || got.Meta.LedgerID != (channel.LedgerID{9}) {
		t.Fatalf("meta %+v", got.Meta)
	}
	if len(got.Accounts) != len(acc) {
		t.Fatalf("%d accounts, want %d", len(got.Accounts), len(acc))
	}
	for a, st := range acc {
		if got.Accounts[a] != st {
			t.Fatalf("account %x: %+v, want %+v", a, got.Accounts[a], st)
		}
	}
	if len(got.Channels) != len(chs) {
		t.Fatalf("%d channels, want %d", len(got.Channels), len(chs))
	}
	for _, c := range got.Channels {
		if c != chs[c.ID] {
			t.Fatalf("channel %x: %+v, want %+v", c.ID, c, chs[c.ID])
		}
	}
	if len(got.Receipts) != receipts {
		t.Fatalf("%d receipts, want %d", len(got.Receipts), receipts)
	}
	nonces := map[uint64]bool{}
	for _, r := range got.Receipts {
		if nonces[r.Nonce] {
			t.Fatalf("receipt %d twice", r.Nonce)
		}
		nonces[r.Nonce] = true
	}
}

// boltAccounts counts the accounts bbolt's file holds by itself, without the log.
func boltAccounts(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket([]byte("accounts")).Stats().KeyN
		return nil
	})
	return n
}

func segments(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(path+"-wal", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// TestLogReplay: batches acknowledged by Commit and never checkpointed are in the log only;
// a crash there loses none of them, and replaying them twice (a crash right after the
// replay's checkpoint, before the log is cleared) adds nothing twice.
func TestLogReplay(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.db")
	s, err := boltstore.OpenLazy(p, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	ds := batches(300)
	commitAll(t, s, ds)
	if n, _, _ := boltstore.Pending(s); n != 300 {
		t.Fatalf("%d batches pending, want 300", n)
	}
	c, ok, err := s.Channel(context.Background(), channel.ChannelID{2})
	if err != nil || !ok || c.Amount != 290 {
		t.Fatalf("pending channel: %+v %v %v", c, ok, err)
	}
	boltstore.Crash(s)
	if n := boltAccounts(t, p); n != 0 {
		t.Fatalf("bbolt holds %d accounts before the replay", n)
	}
	// Keep the log as it was, to replay it again after bbolt has it.
	logCopy := map[string][]byte{}
	for _, f := range segments(t, p) {
		b, _ := os.ReadFile(f)
		logCopy[f] = b
	}
	s, err = boltstore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	checkLoad(t, s, ds)
	s.Close()
	if n := boltAccounts(t, p); n != 12 {
		t.Fatalf("bbolt holds %d accounts after the replay, want 12", n)
	}
	if segs := segments(t, p); len(segs) != 1 {
		t.Fatalf("segments after a clean close: %v", segs)
	}
	for f, b := range logCopy {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err = boltstore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	checkLoad(t, s, ds)
	more := batches(310)[300:]
	commitAll(t, s, more)
	s.Close()
	s, err = boltstore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkLoad(t, s, batches(310))
}

// TestLogTornTail: a record cut short at the end of the newest segment (the write a crash
// interrupted, never acknowledged) is dropped and every earlier one kept; damage followed by
// more records is refused, not cut off.
func TestLogTornTail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		corrupt bool
	}{
		{"half a record", func(b []byte) []byte { return append(b, b[:40]...) }, false},
		{"a header alone", func(b []byte) []byte { return append(b, b[:10]...) }, false},
		{"zeros", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, false},
		{"half a record in a spare's zeros", func(b []byte) []byte { return append(append(b, b[:40]...), make([]byte, 4096)...) }, false},
		{"bad checksum last", func(b []byte) []byte { b = append(b, b[:60]...); b[len(b)-1] ^= 1; return b }, false},
		{"flipped bit inside", func(b []byte) []byte { b[30] ^= 1; return b }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.db")
			s, err := boltstore.OpenLazy(p, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			ds := batches(50)
			commitAll(t, s, ds)
			boltstore.Crash(s)
			segs := segments(t, p)
			b, err := os.ReadFile(segs[len(segs)-1])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(segs[len(segs)-1], tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err = boltstore.Open(p)
			if tc.corrupt {
				if !errors.Is(err, boltstore.ErrCorrupt) {
					t.Fatalf("open: %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkLoad(t, s, ds)
			commitAll(t, s, batches(60)[50:])
			boltstore.Crash(s)
			s, err = boltstore.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkLoad(t, s, batches(60))
		})
	}
}

// TestLogBounded: with the checkpointer behind, Commit waits rather than hold more than
// the stated bytes in memory, and checkpointed segments are deleted: the log holds about
// what bbolt lacks, not the history.
func TestLogBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.db")
	const max = 256 << 10
	s, err := boltstore.OpenLazy(p, max)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := make([]byte, 8<<10)
	for i := range 4000 { // 32 MiB of receipts: two segments' worth
		a := channel.Address{channel.AddressPrefix, byte(i)}
		d := &ledger.Data{Receipts: []ledger.Receipt{{Account: a, Nonce: uint64(i), Body: big}}}
		if err := s.Commit(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		if _, bytes, segs := boltstore.Pending(s); bytes > max+len(big)+100 || segs > 2 {
			t.Fatalf("after %d commits: %d bytes pending, %d segments", i+1, bytes, segs)
		}
	}
	if segs := segments(t, p); len(segs) > 2 {
		t.Fatalf("%d segments on disk", len(segs))
	}
}

// TestLogSpareSegments: once the log is busy, segments start from spares written with
// zeros beforehand; their zero tails read as a clean end, and a crash loses nothing.
func TestLogSpareSegments(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.db")
	s, err := boltstore.OpenEvery(p, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 4<<10)
	n := 3 * boltstore.SegmentSize / len(body) // three segments and more
	fromSpare := 0
	for i := range n {
		a := channel.Address{channel.AddressPrefix, byte(i), byte(i >> 8)}
		d := &ledger.Data{Receipts: []ledger.Receipt{{Account: a, Nonce: uint64(i), Body: body}}}
		if i == 0 {
			d.Meta = &ledger.Meta{LedgerID: channel.LedgerID{9}}
		}
		if err := s.Commit(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		if i%64 == 0 {
			time.Sleep(time.Millisecond) // let the checkpointer run on a loaded machine
		}
		segs := segments(t, p)
		if fi, err := os.Stat(segs[len(segs)-1]); err == nil && fi.Size() == boltstore.SegmentSize {
			fromSpare++
		}
	}
	if fromSpare == 0 {
		t.Fatal("no segment started from a spare")
	}
	boltstore.Crash(s)
	s, err = boltstore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Load(context.Background())
	if err != nil || len(d.Receipts) != n {
		t.Fatalf("after the crash: %d receipts, want %d (%v)", len(d.Receipts), n, err)
	}
}
