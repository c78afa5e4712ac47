package ledger

import (
	"encoding/hex"
	"fmt"

	"github.com/speedbt/btt/channel"
)

// Hash is a 32-byte id (a withdrawal id, an on-chain transaction id, a block id), hex in JSON.
type Hash [32]byte

// String returns the hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros (no id).
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText implements encoding.TextMarshaler (hex; "" for the zero Hash).
func (h Hash) MarshalText() ([]byte, error) {
	if h.IsZero() {
		return []byte{}, nil
	}
	return []byte(h.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (64 hex digits, or "").
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*h = Hash{}
		return nil
	}
	if len(b) != 64 {
		return fmt.Errorf("ledger: hash: hex length %d, want 64", len(b))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// ParseHash parses the hex form.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) == 0 {
		return h, fmt.Errorf("ledger: empty hash")
	}
	return h, h.UnmarshalText([]byte(s))
}

// Withdrawal states. pending -> signed (a transaction is recorded; it may be on chain) ->
// confirmed (included, with the bridge's confirmations). A signed withdrawal whose
// transaction expired unincluded is signed again with the next attempt.
const (
	WithdrawPending   = "pending"
	WithdrawSigned    = "signed"
	WithdrawConfirmed = "confirmed"
)

// Withdrawal is tokens leaving the ledger for a TRON address: debited from From when
// accepted, in flight until its transaction is confirmed on chain.
type Withdrawal struct {
	ID        Hash            `json:"id"` // digest of the user's signed request
	From      channel.Address `json:"from"`
	To        channel.Address `json:"to"` // on chain
	Amount    U64             `json:"amount"`
	Nonce     U64             `json:"nonce"`
	Status    string          `json:"status"`
	CreatedAt int64           `json:"created_at"`
	Seq       uint64          `json:"seq"` // order of arrival, for listings that survive a reload
	// Set by the bridge: the signed transaction (raw_data || 65-byte signature, hex), its
	// id, its expiration (Unix ms) and which attempt it is (1 unless an earlier one expired).
	Attempt    uint32 `json:"attempt,omitempty"`
	TxID       Hash   `json:"txid,omitempty"`
	Tx         string `json:"tx,omitempty"`
	Expiration int64  `json:"expiration,omitempty"`
	Block      int64  `json:"block,omitempty"` // where it was included, once confirmed
	DoneAt     int64  `json:"done_at,omitempty"`
}

// Final reports whether the withdrawal needs nothing more from the bridge.
func (w *Withdrawal) Final() bool { return w.Status == WithdrawConfirmed }

// Deposit states.
const (
	DepositCredited  = "credited"  // the memo named a ledger address, which got the amount
	DepositUnclaimed = "unclaimed" // no valid ledger address in the memo: kept on chain, not credited
	DepositUnbacked  = "unbacked"  // more than the ledger ever sent out: crediting it would mint
)

// Deposit is an on-chain transfer to the bridge, recorded once per transaction id.
type Deposit struct {
	TxID   Hash            `json:"txid"`
	From   channel.Address `json:"from"` // on chain
	To     channel.Address `json:"to,omitempty"`
	Amount U64             `json:"amount"`
	Block  int64           `json:"block"`
	Memo   string          `json:"memo,omitempty"` // hex, at most 256 bytes
	Status string          `json:"status"`
	At     int64           `json:"at"`
	Seq    uint64          `json:"seq"` // order of arrival
}

// BridgeMeta is the bridge's part of the ledger's counters.
//
// The supply invariant with a bridge: balances + open channels + withdrawals in flight +
// Exported - Imported = genesis supply, where Exported - Imported (never negative) is what
// is outstanding on chain.
type BridgeMeta struct {
	Exported U64 `json:"exported"` // confirmed withdrawals
	Imported U64 `json:"imported"` // credited deposits
	// ScanHeight and ScanHash are the last block whose deposits were recorded.
	ScanHeight int64 `json:"scan_height"`
	ScanHash   Hash  `json:"scan_hash,omitempty"`
	// Seq counts the withdrawals and deposits recorded: each gets the next number.
	Seq uint64 `json:"seq"`
}

// BridgeInfo is the answer of GET /v1/bridge.
type BridgeInfo struct {
	Bridge     channel.Address `json:"bridge"` // the bridge's key: its ledger account and its TRON address
	Asset      string          `json:"asset"`
	InFlight   U64             `json:"in_flight"`
	Exported   U64             `json:"exported"`
	Imported   U64             `json:"imported"`
	OnChain    U64             `json:"on_chain"` // exported - imported
	ScanHeight int64           `json:"scan_height"`
	ScanHash   Hash            `json:"scan_hash,omitempty"`
	// Open lists the withdrawals that are not final, oldest first (at most 1000).
	Open []Withdrawal `json:"open"`
}

// History is the answer of GET /v1/history?address=A: the newest 1000 of each, oldest first.
type History struct {
	Withdrawals []Withdrawal `json:"withdrawals"`
	Deposits    []Deposit    `json:"deposits"`
}
