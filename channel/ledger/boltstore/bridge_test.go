package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
	"github.com/speedbt/btt/internal/ledgertest"
)

// TestBridgeRecords commits the bridge's counters, withdrawals and deposits, updates one of
// each, and reads back exactly what was written last, after closing and reopening the file.
func TestBridgeRecords(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.db")
	s, err := boltstore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	ledgertest.CheckBridgeRecords(t, s, func() ledger.Store {
		s.Close()
		if s, err = boltstore.Open(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
