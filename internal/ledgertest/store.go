package ledgertest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

// CheckBridgeRecords is the bridge-records test every ledger.Store passes: it commits the
// bridge's counters, withdrawals and deposits to s, updates one of each, then loads from the
// store reopen returns (as after a restart; reopen closes s first if the store needs it) and
// checks it holds exactly what was written last.
func CheckBridgeRecords(t *testing.T, s ledger.Store, reopen func() ledger.Store) {
	t.Helper()
	ctx := context.Background()
	a := channel.Address{channel.AddressPrefix, 1}
	w1 := ledger.Withdrawal{ID: ledger.Hash{1}, From: a, To: a, Amount: 5, Nonce: 9, Status: ledger.WithdrawPending, CreatedAt: 7, Seq: 1}
	w2 := ledger.Withdrawal{ID: ledger.Hash{2}, From: a, To: a, Amount: 6, Status: ledger.WithdrawSigned, Seq: 2, Attempt: 1,
		TxID: ledger.Hash{3}, Tx: "0a02", Expiration: 60_000}
	d1 := ledger.Deposit{TxID: ledger.Hash{4}, From: a, To: a, Amount: 3, Block: 10, Memo: "54", Status: ledger.DepositCredited, Seq: 3}
	meta := ledger.BridgeMeta{Exported: 6, Imported: 3, ScanHeight: 10, ScanHash: ledger.Hash{5}, Seq: 3}
	if err := s.Commit(ctx, &ledger.Data{Bridge: &meta, Withdrawals: []ledger.Withdrawal{w1, w2}, Deposits: []ledger.Deposit{d1}}); err != nil {
		t.Fatal(err)
	}
	w2.Status, w2.Block = ledger.WithdrawConfirmed, 11
	meta.ScanHeight = 12
	if err := s.Commit(ctx, &ledger.Data{Bridge: &meta, Withdrawals: []ledger.Withdrawal{w2}}); err != nil {
		t.Fatal(err)
	}
	got, err := reopen().Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := &ledger.Data{Accounts: map[channel.Address]ledger.AccountState{}, Bridge: &meta,
		Withdrawals: []ledger.Withdrawal{w1, w2}, Deposits: []ledger.Deposit{d1}}
	sortW := cmpopts.SortSlices(func(x, y ledger.Withdrawal) bool { return x.Seq < y.Seq })
	if diff := cmp.Diff(want, got, sortW, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("loaded (-want +got):\n%s", diff)
	}
}
