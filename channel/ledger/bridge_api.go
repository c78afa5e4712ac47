package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/tron"
)

// Domain tags of the bridge's requests: a user's withdrawal, and the four reports only the
// bridge's key may sign.
const (
	TagWithdraw      = "speedbt.lwdrw.v1"
	TagBridgeTx      = "speedbt.bwsig.v1"
	TagBridgeConfirm = "speedbt.bwfin.v1"
	TagBridgeDeposit = "speedbt.bdepo.v1"
	TagBridgeScan    = "speedbt.bscan.v1"
)

// maxDepositBody caps a deposit report: a transaction of up to tron.MaxRawSize in hex.
const maxDepositBody = 4*tron.MaxRawSize + 4096

// WithdrawRequest sends Amount base units from the signer's account to the TRON address To.
// Path: POST /v1/withdrawals. Signed layout: TagWithdraw | ledger (32) | pubkey (33) |
// to (21) | amount (8) | nonce (8). The withdrawal id is the digest.
type WithdrawRequest struct {
	PubKey channel.PublicKey `json:"pubkey"`
	To     channel.Address   `json:"to"`
	Amount U64               `json:"amount"`
	Nonce  U64               `json:"nonce"`
	Sig    channel.Signature `json:"sig"`
}

// Digest returns the signed digest of r on ledger id.
func (r *WithdrawRequest) Digest(id channel.LedgerID) [32]byte {
	b := make([]byte, 0, 16+32+33+21+16)
	b = append(b, TagWithdraw...)
	b = append(b, id[:]...)
	b = append(b, r.PubKey[:]...)
	b = append(b, r.To[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Amount))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Nonce))
	return sha256.Sum256(b)
}

// Sign fills PubKey and Sig.
func (r *WithdrawRequest) Sign(id channel.LedgerID, k *channel.PrivateKey) {
	r.PubKey = k.Public()
	r.Sig = k.Sign(r.Digest(id))
}

// EncodeTx writes a signed TRON transaction as the bridge requests carry it:
// hex(raw_data || 65-byte signature).
func EncodeTx(t *tron.SignedTx) string {
	return hex.EncodeToString(t.Raw) + hex.EncodeToString(t.Sig[:])
}

// DecodeTx reverses EncodeTx and checks the transaction: one TransferAssetContract, signed by
// its owner.
func DecodeTx(s string) (tron.SignedTx, *tron.Raw, error) {
	var t tron.SignedTx
	if len(s) > 2*(tron.MaxRawSize+tron.SignatureSize) || len(s) < 2*tron.SignatureSize {
		return t, nil, fmt.Errorf("transaction of %d hex digits", len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return t, nil, err
	}
	t.Raw = b[:len(b)-tron.SignatureSize]
	copy(t.Sig[:], b[len(b)-tron.SignatureSize:])
	r, err := t.Verify()
	return t, r, err
}

func txDigest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// bridgeLayout starts every bridge report: tag | ledger (32) | pubkey (33).
func bridgeLayout(tag string, id channel.LedgerID, pub channel.PublicKey, extra int) []byte {
	b := make([]byte, 0, 16+32+33+extra)
	b = append(b, tag...)
	b = append(b, id[:]...)
	return append(b, pub[:]...)
}

// BridgeTxRequest records a withdrawal's signed transaction before it is broadcast.
// Path: POST /v1/bridge/tx. Signed layout: TagBridgeTx | ledger | pubkey | withdrawal (32) |
// attempt (4) | SHA-256(tx as hex text) (32).
type BridgeTxRequest struct {
	PubKey     channel.PublicKey `json:"pubkey"`
	Withdrawal Hash              `json:"withdrawal"`
	Attempt    uint32            `json:"attempt"`
	Tx         string            `json:"tx"`
	Sig        channel.Signature `json:"sig"`
}

// Digest returns the signed digest of r on ledger id.
func (r *BridgeTxRequest) Digest(id channel.LedgerID) [32]byte {
	b := bridgeLayout(TagBridgeTx, id, r.PubKey, 68)
	b = append(b, r.Withdrawal[:]...)
	b = binary.BigEndian.AppendUint32(b, r.Attempt)
	d := txDigest(r.Tx)
	return sha256.Sum256(append(b, d[:]...))
}

// BridgeConfirmRequest says a withdrawal's transaction is on chain with the bridge's
// confirmations. Path: POST /v1/bridge/confirm. Signed layout: TagBridgeConfirm | ledger |
// pubkey | withdrawal (32) | txid (32) | block (8).
type BridgeConfirmRequest struct {
	PubKey     channel.PublicKey `json:"pubkey"`
	Withdrawal Hash              `json:"withdrawal"`
	TxID       Hash              `json:"txid"`
	Block      U64               `json:"block"`
	Sig        channel.Signature `json:"sig"`
}

// Digest returns the signed digest of r on ledger id.
func (r *BridgeConfirmRequest) Digest(id channel.LedgerID) [32]byte {
	b := bridgeLayout(TagBridgeConfirm, id, r.PubKey, 72)
	b = append(b, r.Withdrawal[:]...)
	b = append(b, r.TxID[:]...)
	return sha256.Sum256(binary.BigEndian.AppendUint64(b, uint64(r.Block)))
}

// BridgeDepositRequest reports an on-chain transfer to the bridge, included in Block with the
// bridge's confirmations. Path: POST /v1/bridge/deposit. Signed layout: TagBridgeDeposit |
// ledger | pubkey | SHA-256(tx as hex text) (32) | block (8).
type BridgeDepositRequest struct {
	PubKey channel.PublicKey `json:"pubkey"`
	Tx     string            `json:"tx"`
	Block  U64               `json:"block"`
	Sig    channel.Signature `json:"sig"`
}

// Digest returns the signed digest of r on ledger id.
func (r *BridgeDepositRequest) Digest(id channel.LedgerID) [32]byte {
	b := bridgeLayout(TagBridgeDeposit, id, r.PubKey, 40)
	d := txDigest(r.Tx)
	b = append(b, d[:]...)
	return sha256.Sum256(binary.BigEndian.AppendUint64(b, uint64(r.Block)))
}

// BridgeScanRequest says every deposit up to block Height (id Hash) was reported.
// Path: POST /v1/bridge/scan. Signed layout: TagBridgeScan | ledger | pubkey | height (8) |
// block id (32).
type BridgeScanRequest struct {
	PubKey channel.PublicKey `json:"pubkey"`
	Height U64               `json:"height"`
	Hash   Hash              `json:"hash"`
	Sig    channel.Signature `json:"sig"`
}

// Digest returns the signed digest of r on ledger id.
func (r *BridgeScanRequest) Digest(id channel.LedgerID) [32]byte {
	b := bridgeLayout(TagBridgeScan, id, r.PubKey, 40)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Height))
	return sha256.Sum256(append(b, r.Hash[:]...))
}

func registerBridge(mux *http.ServeMux, h *handler) {
	mux.HandleFunc("POST /v1/withdrawals", h.withdraw)
	mux.HandleFunc("GET /v1/withdrawals/{id}", h.getWithdrawal)
	mux.HandleFunc("GET /v1/history", h.history)
	mux.HandleFunc("GET /v1/bridge", h.getBridge)
	mux.HandleFunc("POST /v1/bridge/tx", h.bridgeTx)
	mux.HandleFunc("POST /v1/bridge/confirm", h.bridgeConfirm)
	mux.HandleFunc("POST /v1/bridge/deposit", h.bridgeDeposit)
	mux.HandleFunc("POST /v1/bridge/scan", h.bridgeScan)
}

func (h *handler) withdraw(w http.ResponseWriter, r *http.Request) {
	var req WithdrawRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.To.IsZero() {
		writeErr(w, errorf(ErrBadRequest, "missing destination"))
		return
	}
	d := req.Digest(h.id)
	from, err := h.verify(req.PubKey, d, req.Sig)
	if err == nil {
		err = h.funded(r.Context(), from) // an unfunded key never reaches the writer
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, Withdraw{From: from, To: req.To, Amount: uint64(req.Amount), Nonce: uint64(req.Nonce), Digest: d})
}

func (h *handler) getWithdrawal(w http.ResponseWriter, r *http.Request) {
	id, err := ParseHash(r.PathValue("id"))
	if err != nil {
		writeErr(w, errorf(ErrBadRequest, "%v", err))
		return
	}
	br, err := h.bridgeReader()
	var wd Withdrawal
	found := false
	if err == nil {
		wd, found, err = br.Withdrawal(r.Context(), id)
	}
	switch {
	case err != nil:
		writeErr(w, err)
	case !found:
		writeErr(w, errorf(ErrNotFound, "withdrawal %s", id))
	default:
		writeJSON(w, &wd)
	}
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	a, err := channel.ParseAddress(r.URL.Query().Get("address"))
	if err != nil {
		writeErr(w, errorf(ErrBadRequest, "address: %v", err))
		return
	}
	br, err := h.bridgeReader()
	var hist History
	if err == nil {
		hist, err = br.History(r.Context(), a)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, &hist)
}

func (h *handler) bridgeTx(w http.ResponseWriter, r *http.Request) {
	var req BridgeTxRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	signer, err := h.verify(req.PubKey, req.Digest(h.id), req.Sig)
	if err != nil {
		writeErr(w, err)
		return
	}
	tx, raw, err := DecodeTx(req.Tx)
	if err != nil {
		writeErr(w, errorf(ErrInvalid, "tx: %v", err))
		return
	}
	h.do(w, r, BridgeSignTx{Signer: signer, Withdrawal: req.Withdrawal, Attempt: req.Attempt, Tx: tx, Raw: raw})
}

func (h *handler) bridgeConfirm(w http.ResponseWriter, r *http.Request) {
	var req BridgeConfirmRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	signer, err := h.verify(req.PubKey, req.Digest(h.id), req.Sig)
	if err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, BridgeConfirm{Signer: signer, Withdrawal: req.Withdrawal, TxID: req.TxID, Block: int64(req.Block)})
}

func (h *handler) bridgeDeposit(w http.ResponseWriter, r *http.Request) {
	var req BridgeDepositRequest
	if err := decodeMax(w, r, &req, maxDepositBody); err != nil {
		writeErr(w, err)
		return
	}
	signer, err := h.verify(req.PubKey, req.Digest(h.id), req.Sig)
	if err != nil {
		writeErr(w, err)
		return
	}
	tx, raw, err := DecodeTx(req.Tx)
	if err != nil {
		writeErr(w, errorf(ErrInvalid, "tx: %v", err))
		return
	}
	h.do(w, r, BridgeDeposit{Signer: signer, Tx: tx, Raw: raw, Block: int64(req.Block)})
}

func (h *handler) bridgeScan(w http.ResponseWriter, r *http.Request) {
	var req BridgeScanRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	signer, err := h.verify(req.PubKey, req.Digest(h.id), req.Sig)
	if err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, BridgeScan{Signer: signer, Height: int64(req.Height), Hash: req.Hash})
}

// Withdraw asks the ledger to send amount base units from k's account to the TRON address to.
// The request is built once: resending it (Post) after a lost answer is safe.
func (c *Client) Withdraw(ctx context.Context, k *channel.PrivateKey, to channel.Address, amount uint64) (Withdrawal, error) {
	id, err := c.LedgerID(ctx)
	if err != nil {
		return Withdrawal{}, err
	}
	req := WithdrawRequest{To: to, Amount: U64(amount), Nonce: U64(NewNonce())}
	req.Sign(id, k)
	var w Withdrawal
	return w, c.Post(ctx, "/v1/withdrawals", &req, &w)
}

// Withdrawal reads a withdrawal.
func (c *Client) Withdrawal(ctx context.Context, id Hash) (Withdrawal, error) {
	var w Withdrawal
	return w, c.Get(ctx, "/v1/withdrawals/"+id.String(), &w)
}

// History lists a's withdrawals and credited deposits.
func (c *Client) History(ctx context.Context, a channel.Address) (History, error) {
	var h History
	return h, c.Get(ctx, "/v1/history?address="+url.QueryEscape(a.String()), &h)
}

// Bridge describes the bridge and lists the open withdrawals.
func (c *Client) Bridge(ctx context.Context) (BridgeInfo, error) {
	var b BridgeInfo
	return b, c.Get(ctx, "/v1/bridge", &b)
}
