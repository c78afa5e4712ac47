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
//
// Errors are 4xx/5xx with an Error body. Signatures are verified here, concurrently, before
// an operation is queued for the single writer.
func NewHandler(l *Ledger) http.Handler {
	h := &handler{l: l, id: l.ID()}
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
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, errorf(ErrNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

type handler struct {
	l  *Ledger
	id channel.LedgerID
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
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errorf(ErrTooLarge, "body above %d bytes", MaxRequestBytes)
		}
		return errorf(ErrBadRequest, "%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errorf(ErrTooLarge, "body above %d bytes", MaxRequestBytes)
		}
		return errorf(ErrBadRequest, "data after the JSON object")
	}
	return nil
}

// verify maps signature failures to ledger errors.
func verify(pub channel.PublicKey, digest [32]byte, sig channel.Signature) error {
	err := pub.Verify(digest, sig)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, channel.ErrBadPublicKey):
		return errorf(ErrBadRequest, "%v", err)
	default:
		return errorf(ErrBadSignature, "%v", err)
	}
}

func writeErr(w http.ResponseWriter, err error) {
	e, ok := errors.AsType[*Error](err)
	switch {
	case ok:
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e = errorf(ErrUnavailable, "%v", err)
	default:
		e = &Error{Status: http.StatusInternalServerError, Code: "internal", Msg: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(e)
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) { h.do(w, r, GetInfo{}) }

func (h *handler) createAccount(w http.ResponseWriter, r *http.Request) {
	var req AccountRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	d := req.Digest(h.id)
	if err := verify(req.PubKey, d, req.Sig); err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, CreateAccount{Address: req.PubKey.Address()})
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
	if err := verify(req.PubKey, d, req.Sig); err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, Faucet{Address: req.PubKey.Address(), Nonce: uint64(req.Nonce), Digest: d})
}

func (h *handler) transfer(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.To.IsZero() {
		writeErr(w, errorf(ErrBadRequest, "missing destination"))
		return
	}
	d := req.Digest(h.id)
	if err := verify(req.PubKey, d, req.Sig); err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, Transfer{From: req.PubKey.Address(), To: req.To, Amount: uint64(req.Amount), Nonce: uint64(req.Nonce), Digest: d})
}

func (h *handler) open(w http.ResponseWriter, r *http.Request) {
	var req OpenRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	m := req.Message(h.id)
	if err := verify(m.Payer, m.Digest(), req.Sig); err != nil {
		writeErr(w, err)
		return
	}
	payee := req.Payee.Address()
	if payee.IsZero() {
		writeErr(w, errorf(ErrBadRequest, "payee: %v", channel.ErrBadPublicKey))
		return
	}
	h.do(w, r, OpenChannel{Open: m, PayerAddress: m.Payer.Address(), PayeeAddress: payee})
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
	c := req.Close(id)
	if err := verify(req.Payer, c.Voucher.Digest(), c.Voucher.Sig); err != nil {
		writeErr(w, err)
		return
	}
	if err := channel.VerifyCloseSig(channel.State{Payer: req.Payer, Payee: req.Payee}, c); err != nil {
		if errors.Is(err, channel.ErrBadPublicKey) {
			writeErr(w, errorf(ErrBadRequest, "%v", err))
		} else {
			writeErr(w, errorf(ErrBadSignature, "%v", err))
		}
		return
	}
	h.do(w, r, CloseChannel{Close: c, Payer: req.Payer, Payee: req.Payee})
}
