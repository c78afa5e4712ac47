package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"

	"github.com/speedbt/btt/channel"
)

// Domain tags of the ledger's own signed requests. Channel open and close use the layouts of
// package channel; these complete the set and differ from all of them.
const (
	TagAccount  = "speedbt.lacct.v1"
	TagFaucet   = "speedbt.lfauc.v1"
	TagTransfer = "speedbt.lxfer.v1"
)

// U64 is an unsigned 64-bit integer in JSON. It is written as a decimal string (so that
// JavaScript clients do not round it) and read from a string or an integer literal; floats,
// exponents, signs and leading zeros are refused.
type U64 uint64

// MarshalJSON writes a quoted decimal.
func (n U64) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 22)
	b = append(b, '"')
	b = strconv.AppendUint(b, uint64(n), 10)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts 123 or "123".
func (n *U64) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || len(b) > 20 || len(b) > 1 && b[0] == '0' {
		return fmt.Errorf("ledger: invalid integer %q", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return fmt.Errorf("ledger: invalid integer %q", b)
		}
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("ledger: integer %q: %w", b, channel.ErrOverflow)
	}
	*n = U64(v)
	return nil
}

// AccountRequest creates an account (proving the key is held). Path: POST /v1/accounts.
// Signed layout: TagAccount | ledger (32) | pubkey (33) | nonce (8).
type AccountRequest struct {
	PubKey channel.PublicKey `json:"pubkey"`
	Nonce  U64               `json:"nonce"`
	Sig    channel.Signature `json:"sig"`
}

// Digest returns the signed digest of r on ledger id.
func (r *AccountRequest) Digest(id channel.LedgerID) [32]byte {
	b := make([]byte, 0, 16+32+33+8)
	b = append(b, TagAccount...)
	b = append(b, id[:]...)
	b = append(b, r.PubKey[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Nonce))
	return sha256.Sum256(b)
}

// Sign fills PubKey and Sig.
func (r *AccountRequest) Sign(id channel.LedgerID, k *channel.PrivateKey) {
	r.PubKey = k.Public()
	r.Sig = k.Sign(r.Digest(id))
}

// FaucetRequest asks the faucet for a starting balance. Path: POST /v1/faucet.
// Signed layout: TagFaucet | ledger (32) | pubkey (33) | nonce (8) | work (8). The digest must
// also have at least Info.FaucetBits leading zero bits: Work is the proof-of-work counter.
type FaucetRequest struct {
	PubKey channel.PublicKey `json:"pubkey"`
	Nonce  U64               `json:"nonce"`
	Work   U64               `json:"work"`
	Sig    channel.Signature `json:"sig"`
}

// Digest returns the signed digest of r on ledger id.
func (r *FaucetRequest) Digest(id channel.LedgerID) [32]byte {
	b := make([]byte, 0, 16+32+33+16)
	b = append(b, TagFaucet...)
	b = append(b, id[:]...)
	b = append(b, r.PubKey[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Nonce))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Work))
	return sha256.Sum256(b)
}

// LeadingZeroBits counts the leading zero bits of a digest (the faucet's work measure).
func LeadingZeroBits(d [32]byte) int {
	n := 0
	for i := 0; i < len(d); i += 8 {
		w := binary.BigEndian.Uint64(d[i:])
		n += bits.LeadingZeros64(w)
		if w != 0 {
			break
		}
	}
	return n
}

// Solve searches Work until the digest has want leading zero bits, then signs. It expects
// about 2^want hashes and gives up (returning false) after maxTries.
func (r *FaucetRequest) Solve(id channel.LedgerID, k *channel.PrivateKey, want int, maxTries uint64) bool {
	r.PubKey = k.Public()
	for i := uint64(0); i < maxTries; i++ {
		r.Work = U64(i)
		d := r.Digest(id)
		if LeadingZeroBits(d) >= want {
			r.Sig = k.Sign(d)
			return true
		}
	}
	return false
}

// TransferRequest moves Amount base units from the signer's account to To.
// Path: POST /v1/transfers. Signed layout: TagTransfer | ledger (32) | from pubkey (33) |
// to address (21) | amount (8) | nonce (8).
type TransferRequest struct {
	PubKey channel.PublicKey `json:"pubkey"`
	To     channel.Address   `json:"to"`
	Amount U64               `json:"amount"`
	Nonce  U64               `json:"nonce"`
	Sig    channel.Signature `json:"sig"`
}

// Digest returns the signed digest of r on ledger id.
func (r *TransferRequest) Digest(id channel.LedgerID) [32]byte {
	b := make([]byte, 0, 16+32+33+21+16)
	b = append(b, TagTransfer...)
	b = append(b, id[:]...)
	b = append(b, r.PubKey[:]...)
	b = append(b, r.To[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Amount))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Nonce))
	return sha256.Sum256(b)
}

// Sign fills PubKey and Sig.
func (r *TransferRequest) Sign(id channel.LedgerID, k *channel.PrivateKey) {
	r.PubKey = k.Public()
	r.Sig = k.Sign(r.Digest(id))
}

// OpenRequest opens a channel: the payer's channel.Open message (its Ledger field is the
// ledger's id) and signature. Path: POST /v1/channels.
type OpenRequest struct {
	Payer  channel.PublicKey `json:"payer"`
	Payee  channel.PublicKey `json:"payee"`
	Amount U64               `json:"amount"`
	Nonce  U64               `json:"nonce"`
	Expiry U64               `json:"expiry"`
	Sig    channel.Signature `json:"sig"`
}

// Message returns the channel.Open the request carries.
func (r *OpenRequest) Message(id channel.LedgerID) channel.Open {
	return channel.Open{Ledger: id, Payer: r.Payer, Payee: r.Payee, Amount: uint64(r.Amount),
		Nonce: uint64(r.Nonce), Expiry: uint64(r.Expiry)}
}

// Sign fills Payer and Sig.
func (r *OpenRequest) Sign(id channel.LedgerID, k *channel.PrivateKey) {
	r.Payer = k.Public()
	m := r.Message(id)
	r.Sig = m.Sign(k)
}

// CloseRequest settles a channel on the payer's last voucher, counter-signed by the payee.
// Path: POST /v1/channels/{id}/close. Payer and payee are repeated so that the server can
// verify both signatures before queueing; the core checks they match the channel.
type CloseRequest struct {
	Payer      channel.PublicKey `json:"payer"`
	Payee      channel.PublicKey `json:"payee"`
	Sequence   U64               `json:"sequence"`
	Cumulative U64               `json:"cumulative"`
	Piece      uint32            `json:"piece"`
	PayerSig   channel.Signature `json:"payer_sig"`
	PayeeSig   channel.Signature `json:"payee_sig"`
}

// NewCloseRequest builds the request for a channel.Close.
func NewCloseRequest(payer, payee channel.PublicKey, c channel.Close) CloseRequest {
	v := c.Voucher
	return CloseRequest{Payer: payer, Payee: payee, Sequence: U64(v.Sequence), Cumulative: U64(v.Cumulative),
		Piece: v.Piece, PayerSig: v.Sig, PayeeSig: c.PayeeSig}
}

// Close returns the channel.Close for channel id.
func (r *CloseRequest) Close(id channel.ChannelID) channel.Close {
	return channel.Close{
		Voucher: channel.SignedVoucher{
			Voucher: channel.Voucher{Channel: id, Sequence: uint64(r.Sequence), Cumulative: uint64(r.Cumulative), Piece: r.Piece},
			Sig:     r.PayerSig,
		},
		PayeeSig: r.PayeeSig,
	}
}

// Account is the response for an account: POST /v1/accounts, GET /v1/accounts/{address}.
type Account struct {
	Address channel.Address `json:"address"`
	Balance U64             `json:"balance"`
	// FaucetClaims counts the faucet grants this address received.
	FaucetClaims uint32 `json:"faucet_claims"`
}

// TransferResult is the response to a transfer.
type TransferResult struct {
	From    channel.Address `json:"from"`
	To      channel.Address `json:"to"`
	Amount  U64             `json:"amount"`
	Nonce   U64             `json:"nonce"`
	Balance U64             `json:"balance"` // the sender's balance right after the transfer
}

// appendJSON appends what json.Marshal writes for r (TestTransferResultJSON compares them):
// the writer encodes one answer per transfer, and reflection cost as much as the rest of
// applying it.
func (r *TransferResult) appendJSON(b []byte) []byte {
	b = append(b, `{"from":`...)
	b = appendAddress(b, r.From)
	b = append(b, `,"to":`...)
	b = appendAddress(b, r.To)
	b = append(b, `,"amount":`...)
	b = appendU64(b, r.Amount)
	b = append(b, `,"nonce":`...)
	b = appendU64(b, r.Nonce)
	b = append(b, `,"balance":`...)
	b = appendU64(b, r.Balance)
	return append(b, '}')
}

// appendAddress appends a's JSON string (base58 needs no escaping; "" for the zero Address).
func appendAddress(b []byte, a channel.Address) []byte {
	b = append(b, '"')
	if !a.IsZero() {
		b = append(b, a.String()...)
	}
	return append(b, '"')
}

func appendU64(b []byte, n U64) []byte {
	b = append(b, '"')
	b = strconv.AppendUint(b, uint64(n), 10)
	return append(b, '"')
}

// FaucetResult is the response to a faucet claim.
type FaucetResult struct {
	Address channel.Address `json:"address"`
	Amount  U64             `json:"amount"`
	Balance U64             `json:"balance"`
}

// Channel states.
const (
	StatusOpen    = "open"
	StatusClosed  = "closed"  // settled by the payee on a voucher
	StatusExpired = "expired" // refunded in full to the payer by the sweeper
)

// Channel is a channel as the ledger holds it; it is also the response of the channel calls.
type Channel struct {
	ID           channel.ChannelID `json:"id"`
	Payer        channel.PublicKey `json:"payer"`
	Payee        channel.PublicKey `json:"payee"`
	PayerAddress channel.Address   `json:"payer_address"`
	PayeeAddress channel.Address   `json:"payee_address"`
	Amount       U64               `json:"amount"`
	Nonce        U64               `json:"nonce"`
	Expiry       U64               `json:"expiry"`
	Status       string            `json:"status"`
	OpenedAt     int64             `json:"opened_at"`
	// Set when the channel leaves the open state.
	ClosedAt int64 `json:"closed_at,omitempty"`
	Sequence U64   `json:"sequence"` // sequence of the closing voucher
	Paid     U64   `json:"paid"`     // to the payee
	Refunded U64   `json:"refunded"` // back to the payer
	// CloseDigest (hex) identifies the close that settled the channel, so that the same
	// close sent again gets the same answer and a different one gets ErrChannelClosed.
	CloseDigest string `json:"close_digest,omitempty"`
}

// State returns the channel as package channel's validator sees it.
func (c *Channel) State() channel.State {
	return channel.State{ID: c.ID, Payer: c.Payer, Payee: c.Payee, Deposit: uint64(c.Amount),
		Expiry: uint64(c.Expiry), Closed: c.Status != StatusOpen}
}

// ChannelList is the response of GET /v1/channels?address=A.
// Next, when set, is the cursor of the following page (the "after" parameter).
type ChannelList struct {
	Channels []Channel `json:"channels"`
	Next     string    `json:"next,omitempty"`
}

// Info describes the ledger: GET /v1/info.
type Info struct {
	LedgerID     channel.LedgerID `json:"ledger_id"`
	Treasury     channel.Address  `json:"treasury"`
	Supply       U64              `json:"supply"` // genesis supply, constant
	Total        U64              `json:"total"`  // balances + open channels, recomputed now
	Accounts     int              `json:"accounts"`
	OpenChannels int              `json:"open_channels"`
	FaucetBits   int              `json:"faucet_bits"`
	FaucetAmount U64              `json:"faucet_amount"`
	FaucetLeft   U64              `json:"faucet_left"`
}

// Error is a ledger error with its HTTP status and a stable machine-readable code. Sentinel
// values below are compared by code, so errors.Is works on errors decoded by the Client too.
type Error struct {
	Status int    `json:"-"`
	Code   string `json:"error"`
	Msg    string `json:"message"`
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return "ledger: " + e.Code
	}
	return "ledger: " + e.Code + ": " + e.Msg
}

// Is matches on the code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

func newErr(status int, code string) *Error { return &Error{Status: status, Code: code} }

// Errors the ledger returns. The HTTP status is the one the server answers with.
var (
	ErrBadRequest        = newErr(400, "bad_request")
	ErrBadSignature      = newErr(401, "bad_signature")
	ErrNotFound          = newErr(404, "not_found")
	ErrNonceReused       = newErr(409, "nonce_reused")
	ErrChannelClosed     = newErr(409, "channel_closed")
	ErrTooLarge          = newErr(413, "too_large")
	ErrInsufficientFunds = newErr(422, "insufficient_funds")
	ErrInvalid           = newErr(422, "invalid")
	ErrExpired           = newErr(422, "expired")
	ErrBadWork           = newErr(422, "bad_work")
	ErrFaucetLimit       = newErr(429, "faucet_limit")
	ErrUnavailable       = newErr(503, "unavailable")
)

// errorf returns a copy of sentinel e with a message.
func errorf(e *Error, format string, args ...any) *Error {
	return &Error{Status: e.Status, Code: e.Code, Msg: fmt.Sprintf(format, args...)}
}
