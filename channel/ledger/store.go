package ledger

import (
	"bytes"
	"cmp"
	"context"
	"slices"

	"github.com/speedbt/btt/channel"
)

// Store is durable storage for a ledger. The core never reads it after start-up: Load
// returns everything once, and Commit writes the changes of one batch of operations.
// Commit must be atomic (all of a batch or none of it survives a crash) and durable (when it
// returns nil, the changes survive kill -9 and power loss). An embedded store is in
// channel/ledger/boltstore; a PostgreSQL store only has to implement these three methods.
type Store interface {
	// Load returns the stored state; Data.Meta is nil for an empty store.
	Load(ctx context.Context) (*Data, error)
	// Commit applies d: Meta (when not nil) replaces the stored meta, accounts and channels
	// are upserted, receipts inserted.
	Commit(ctx context.Context, d *Data) error
	Close() error
}

// Meta is the ledger's identity and counters.
type Meta struct {
	LedgerID channel.LedgerID `json:"ledger_id"`
	Treasury channel.Address  `json:"treasury"`
	// FaucetIssued is the total the faucet has handed out, capped by the faucet budget.
	FaucetIssued uint64 `json:"faucet_issued"`
	// FaucetLoad is the recent claim count in thousandths, decayed to FaucetLoadAt (Unix
	// seconds): what the faucet's difficulty follows (faucet.go).
	FaucetLoad   uint64 `json:"faucet_load,omitempty"`
	FaucetLoadAt uint64 `json:"faucet_load_at,omitempty"`
}

// AccountState is what the ledger stores per address.
type AccountState struct {
	Balance      uint64
	FaucetClaims uint32
}

// Receipt remembers the response to a signed request, keyed by (account, nonce), so that a
// replay returns the same bytes and applies nothing.
type Receipt struct {
	Account channel.Address
	Nonce   uint64
	Digest  [32]byte // of the signed request; the same nonce with another digest is refused
	Body    []byte
}

// Data is a whole ledger state (from Load) or the changes of one batch (to Commit).
type Data struct {
	Meta     *Meta
	Accounts map[channel.Address]AccountState
	Channels []Channel
	Receipts []Receipt
	// ExpireReceipts, when not 0, lets the store delete every receipt whose nonce was
	// issued (NonceTime) before it: the core refuses such requests now (see window.go).
	ExpireReceipts uint64
	// Archived channels left the core's memory (settled before the window); the store
	// keeps them. Stores ignore it; the reads' view drops them too.
	Archived []channel.ChannelID
	// The bridge's records (bridge_types.go): counters (when not nil, replace the stored
	// ones), withdrawals keyed by ID and deposits keyed by TxID (upserted).
	Bridge      *BridgeMeta
	Withdrawals []Withdrawal
	Deposits    []Deposit
}

// Empty reports whether d holds no change.
func (d *Data) Empty() bool {
	return d.Meta == nil && len(d.Accounts) == 0 && len(d.Channels) == 0 && len(d.Receipts) == 0 &&
		d.Bridge == nil && len(d.Withdrawals) == 0 && len(d.Deposits) == 0 && d.ExpireReceipts == 0 && len(d.Archived) == 0
}

// sortChannels orders channels by opening time, then id, so listings are stable.
func sortChannels(chs []Channel) {
	slices.SortFunc(chs, func(a, b Channel) int {
		if c := cmp.Compare(a.OpenedAt, b.OpenedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
}
