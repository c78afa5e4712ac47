package pgstore_test

import (
	"context"
	"testing"

	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/internal/ledgertest"
	"github.com/speedbt/btt/internal/testutil"
)

// TestBridgeRecords commits the bridge's counters, withdrawals and deposits to a real
// PostgreSQL server, updates one of each, and reads back exactly what was written last
// (through a second store, as after a restart).
func TestBridgeRecords(t *testing.T) {
	pg := testutil.StartPostgres(t)
	s := open(t, pg.URL)
	if err := s.Elect(context.Background()); err != nil {
		t.Fatal(err)
	}
	ledgertest.CheckBridgeRecords(t, s, func() ledger.Store { return open(t, pg.URL) })
}
