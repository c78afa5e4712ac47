package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/speedbt/btt/channel"
)

// MaxRequestBytes caps a request body. The largest valid body (a close) is under 700 bytes.
const MaxRequestBytes = 4096

// NewHandler returns the ledger's HTTP API:
//
//	GET  /v1/info
//	POST /v1/accounts                 AccountRequest  -> Account
//	GET  /v1/accounts/{address}                       -> Account
//	POST /v1/faucet                   FaucetRequest   -> FaucetResult
//	POST /v1/transfers                TransferRequest -> TransferResult
//	POST /v1/channels                 OpenRequest     -> Channel
//	GET  /v1/channels?address=A                       -> ChannelList
//	GET  /v1/channels/{id}                            -> Channel
//	POST /v1/channels/{id}/close      CloseRequest    -> Channel
//	POST /v1/batch                    BatchRequest    -> BatchResponse
//
// Errors are 4xx/5xx with an Error body. Signatures are verified here, concurrently, before
// an operation is queued for the single writer.
func NewHandler(l *Ledger) http.Handler {
	h := &handler{l: l, id: l.ID(), keys: channel.NewKeyCache(KeyCacheSize, KeyTables)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", h.info)
	mux.HandleFunc("POST /v1/accounts", h.createAccount)
	mux.HandleFunc("GET /v1/accounts/{address}", h.getAccount)
	mux.HandleFunc("POST /v1/faucet", h.faucet)
	mux.HandleFunc("POST /v1/transfers", h.transfer)
	mux.HandleFunc("POST /v1/channels", h.open)
	mux.HandleFunc("GET /v1/channels", h.listChannels)
	mux.HandleFunc("GET /v1/channels/{id}", h.getChannel)
	mux.HandleFunc("POST /v1/channels/{id}/close", h.closeChannel)
	mux.HandleFunc("POST /v1/batch", h.batch)
	registerBridge(mux, h)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, errorf(ErrNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// KeyCacheSize is how many signing keys the server keeps parsed (point and address, about
// 200 bytes each), and KeyTables how many of the busiest have a precomputed table (53 KiB
// each; their signatures verify in a third of the time).
const (
	KeyCacheSize = 8192
	KeyTables    = 256
)

type handler struct {
	l    *Ledger
	id   channel.LedgerID
	keys *channel.KeyCache
}

func (h *handler) do(w http.ResponseWriter, r *http.Request, op Op) {
	body, err := h.l.Do(r.Context(), op)
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// decode reads one JSON object, strictly: size-capped, no unknown fields, no trailing data.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeMax(w, r, v, MaxRequestBytes)
}

func decodeMax(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errorf(ErrTooLarge, "body above %d bytes", limit)
		}
		return errorf(ErrBadRequest, "%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errorf(ErrTooLarge, "body above %d bytes", limit)
		}
		return errorf(ErrBadRequest, "data after the JSON object")
	}
	return nil
}

// verify checks a signature and returns the signer's address, mapping failures to ledger
// errors.
func (h *handler) verify(pub channel.PublicKey, digest [32]byte, sig channel.Signature) (channel.Address, error) {
	err := h.keys.Verify(pub, digest, sig)
	if err == nil {
		a, err := h.keys.Address(pub)
		return a, err
	}
	return channel.Address{}, verifyErr(err)
}

func verifyErr(err error) error {
	switch {
	case errors.Is(err, channel.ErrBadPublicKey):
		return errorf(ErrBadRequest, "%v", err)
	default:
		return errorf(ErrBadSignature, "%v", err)
	}
}

func writeErr(w http.ResponseWriter, err error) {
	e := toError(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(e)
}

// toError maps any error to the API's: ledger errors as they are, a cancelled or timed-out
// request as unavailable, the rest as internal.
func toError(err error) *Error {
	e, ok := errors.AsType[*Error](err)
	switch {
	case ok:
		return e
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(ErrUnavailable, "%v", err)
	default:
		return &Error{Status: http.StatusInternalServerError, Code: "internal", Msg: err.Error()}
	}
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) { h.do(w, r, GetInfo{}) }

func (h *handler) createAccount(w http.ResponseWriter, r *http.Request) {
	var req AccountRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	addr, err := h.verify(req.PubKey, req.Digest(h.id), req.Sig)
	if err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, CreateAccount{Address: addr})
}

func (h *handler) getAccount(w http.ResponseWriter, r *http.Request) {
	a, err := channel.ParseAddress(r.PathValue("address"))
	if err != nil {
		writeErr(w, errorf(ErrBadRequest, "%v", err))
		return
	}
	h.do(w, r, GetAccount{Address: a})
}

func (h *handler) faucet(w http.ResponseWriter, r *http.Request) {
	var req FaucetRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	d := req.Digest(h.id)
	// Check the work before the (costlier) signature, so junk is cheap to refuse.
	if got, want := LeadingZeroBits(d), h.l.Config().Core.FaucetBits; got < want {
		writeErr(w, errorf(ErrBadWork, "%d leading zero bits, need %d", got, want))
		return
	}
	addr, err := h.verify(req.PubKey, d, req.Sig)
	if err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, Faucet{Address: addr, Nonce: uint64(req.Nonce), Digest: d})
}

func (h *handler) transfer(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	op, err := h.transferOp(&req)
	if err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, op)
}

// transferOp checks a transfer request and its signature.
func (h *handler) transferOp(req *TransferRequest) (Op, error) {
	if req.To.IsZero() {
		return nil, errorf(ErrBadRequest, "missing destination")
	}
	d := req.Digest(h.id)
	from, err := h.verify(req.PubKey, d, req.Sig)
	if err != nil {
		return nil, err
	}
	return Transfer{From: from, To: req.To, Amount: uint64(req.Amount), Nonce: uint64(req.Nonce), Digest: d}, nil
}

func (h *handler) open(w http.ResponseWriter, r *http.Request) {
	var req OpenRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	op, err := h.openOp(&req)
	if err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, op)
}

// openOp checks a channel open request and the payer's signature.
func (h *handler) openOp(req *OpenRequest) (Op, error) {
	m := req.Message(h.id)
	payer, err := h.verify(m.Payer, m.Digest(), req.Sig)
	if err != nil {
		return nil, err
	}
	payee, err := h.keys.Address(req.Payee)
	if err != nil {
		return nil, errorf(ErrBadRequest, "payee: %v", err)
	}
	return OpenChannel{Open: m, PayerAddress: payer, PayeeAddress: payee}, nil
}

func (h *handler) getChannel(w http.ResponseWriter, r *http.Request) {
	id, err := channel.ParseChannelID(r.PathValue("id"))
	if err != nil {
		writeErr(w, errorf(ErrBadRequest, "%v", err))
		return
	}
	h.do(w, r, GetChannel{ID: id})
}

func (h *handler) listChannels(w http.ResponseWriter, r *http.Request) {
	a, err := channel.ParseAddress(r.URL.Query().Get("address"))
	if err != nil {
		writeErr(w, errorf(ErrBadRequest, "address: %v", err))
		return
	}
	h.do(w, r, ListChannels{Address: a})
}

func (h *handler) closeChannel(w http.ResponseWriter, r *http.Request) {
	id, err := channel.ParseChannelID(r.PathValue("id"))
	if err != nil {
		writeErr(w, errorf(ErrBadRequest, "%v", err))
		return
	}
	var req CloseRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	op, err := h.closeOp(id, &req)
	if err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, op)
}

// closeOp checks a close request: the payer's voucher and the payee's counter-signature.
func (h *handler) closeOp(id channel.ChannelID, req *CloseRequest) (Op, error) {
	c := req.Close(id)
	if _, err := h.verify(req.Payer, c.Voucher.Digest(), c.Voucher.Sig); err != nil {
		return nil, err
	}
	if h.keys.Verify(req.Payee, channel.CloseDigest(&c.Voucher.Voucher), c.PayeeSig) == nil {
		return CloseChannel{Close: c, Payer: req.Payer, Payee: req.Payee}, nil
	}
	// Refused: let the plain check say why (a close signed by the payer gets ErrNotPayee).
	if err := channel.VerifyCloseSig(channel.State{Payer: req.Payer, Payee: req.Payee}, c); err != nil {
		if errors.Is(err, channel.ErrBadPublicKey) {
			return nil, errorf(ErrBadRequest, "%v", err)
		}
		return nil, errorf(ErrBadSignature, "%v", err)
	}
	// Unreachable while KeyCache agrees with PublicKey.Verify (tested); refuse if not.
	return nil, errorf(ErrBadSignature, "close signature refused")
}
