package boltstore

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

func recordSeeds() []*ledger.Data {
	a := channel.Address{channel.AddressPrefix, 1}
	b := channel.Address{channel.AddressPrefix, 2}
	return []*ledger.Data{
		{Meta: &ledger.Meta{LedgerID: channel.LedgerID{1}, Treasury: a, FaucetIssued: 3, FaucetLoad: 4, FaucetLoadAt: 5},
			Accounts: map[channel.Address]ledger.AccountState{a: {Balance: 1<<64 - 1, FaucetClaims: 1}, b: {}},
			Receipts: []ledger.Receipt{{Account: a, Nonce: 7, Digest: [32]byte{1}, Body: []byte(`{"ok":1}`)}, {Account: b, Nonce: 1<<64 - 1}}},
		{Channels: []ledger.Channel{{ID: channel.ChannelID{2}, PayerAddress: a, PayeeAddress: b, Amount: 9, Status: ledger.StatusOpen, OpenedAt: 6}},
			ExpireReceipts: 3, Archived: []channel.ChannelID{{3}, {4}}},
		{Bridge: &ledger.BridgeMeta{Seq: 2, ScanHeight: 8}, Withdrawals: []ledger.Withdrawal{{ID: ledger.Hash{4}, From: a, Amount: 1, Status: "pending"}},
			Deposits: []ledger.Deposit{{TxID: ledger.Hash{5}, To: a, Amount: 2, Status: "credited", Memo: "00"}}},
	}
}

// TestRecordRoundTrip: every part of a batch survives the log's encoding.
func TestRecordRoundTrip(t *testing.T) {
	for i, d := range recordSeeds() {
		b, err := appendRecord(nil, d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecord(b)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		if diff := cmp.Diff(d, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("seed %d (-want +got):\n%s", i, diff)
		}
		for n := range len(b) { // every cut is refused or decodes to less, never panics
			decodeRecord(b[:n])
		}
	}
}

// FuzzRecord decodes arbitrary payloads: what decodes must encode and decode to the same
// batch; nothing may panic or allocate beyond what the bytes could hold.
func FuzzRecord(f *testing.F) {
	for _, d := range recordSeeds() {
		b, _ := appendRecord(nil, d)
		f.Add(b)
	}
	f.Add([]byte{secAccounts, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{secReceipts, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := decodeRecord(in)
		if err != nil {
			return
		}
		b, err := appendRecord(nil, d)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeRecord(b)
		if err != nil {
			t.Fatalf("re-encoded record refused: %v", err)
		}
		if diff := cmp.Diff(d, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("(-first +again):\n%s", diff)
		}
	})
}
