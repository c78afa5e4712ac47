package ledger_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
)

// failingStore is a real bbolt store whose commits start failing on demand (a full disk).
type failingStore struct {
	*boltstore.Store
	mu   sync.Mutex
	fail bool
}

func (s *failingStore) Commit(ctx context.Context, d *ledger.Data) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("disk full")
	}
	return s.Store.Commit(ctx, d)
}

// TestCommitFailureStopsLedger checks that when a commit fails, no operation of the batch is
// acknowledged, the writer stops (memory is ahead of disk), and a restart from the store
// shows only what was committed.
func TestCommitFailureStopsLedger(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	bs, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st := &failingStore{Store: bs}
	tr, alice := key(t, 0), key(t, 1)
	cfg := ledger.DefaultConfig()
	cfg.Treasury = tr.Address()
	cfg.Core.ReceiptWindow = 0 // fixed small nonces
	l, err := ledger.Open(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- l.Run(ctx) }()
	id := l.ID()
	transfer := func(nonce uint64) error {
		op := transferOpOn(id, tr, alice.Address(), 10, nonce)
		_, err := l.Do(ctx, op)
		return err
	}
	if err := transfer(1); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.fail = true
	st.mu.Unlock()
	if err := transfer(2); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("transfer during failing commit: %v, want ErrUnavailable", err)
	}
	select {
	case err := <-runErr:
		if err == nil {
			t.Fatal("Run returned nil after a failed commit")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writer kept running after a failed commit")
	}
	if err := transfer(3); !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("transfer after the writer stopped: %v", err)
	}
	bs.Close()

	bs, err = boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	l, err = ledger.Open(ctx, bs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go l.Run(rctx)
	b, err := l.Do(ctx, ledger.GetAccount{Address: alice.Address()})
	if err != nil || string(b) != `{"address":"`+alice.Address().String()+`","balance":"10","faucet_claims":0}` {
		t.Fatalf("after restart: %s, %v", b, err)
	}
}
