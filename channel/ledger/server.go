package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/channel"
)

// MaxRequestBytes caps a request body. The largest valid body (a close) is under 700 bytes.
const MaxRequestBytes = 4096

// NewHandler returns the ledger's HTTP API served by l, without request limits (tests and
// embedding); btt-ledger uses NewServer.
//
//	GET  /v1/info
//	POST /v1/accounts                 AccountRequest  -> Account
//	GET  /v1/accounts/{address}                       -> Account
//	POST /v1/faucet                   FaucetRequest   -> FaucetResult
//	POST /v1/transfers                TransferRequest -> TransferResult
//	POST /v1/channels                 OpenRequest     -> Channel
//	GET  /v1/channels?address=A[&after=CURSOR][&limit=N] -> ChannelList
//	GET  /v1/channels/{id}                            -> Channel
//	POST /v1/channels/{id}/close      CloseRequest    -> Channel
//	POST /v1/batch                    BatchRequest    -> BatchResponse
//
// Errors are 4xx/5xx with an Error body. Signatures are verified here, concurrently, before
// an operation is queued for the single writer. Reads are answered from committed state
// (Reader), never through the writer's queue.
func NewHandler(l *Ledger) http.Handler {
	s := NewServer(ServerConfig{ID: l.ID(), Core: l.Config().Core, Reader: l.Reader()})
	s.SetWriter(l)
	return s
}

// ServerConfig configures a Server.
type ServerConfig struct {
	ID     channel.LedgerID
	Core   CoreConfig // the rules (faucet difficulty) the writer applies
	Reader Reader     // committed state until SetWriter replaces it with the writer's view
	// RatePerIP and BurstPerIP bound the requests one client address may make (token
	// bucket, per second); 0 means unlimited. A batch costs 1 + ops/8.
	RatePerIP  float64
	BurstPerIP int
	// FaucetPerIP and FaucetBurstPerIP bound faucet claims per client address (per
	// second; 0 means unlimited), on top of the proof of work.
	FaucetPerIP      float64
	FaucetBurstPerIP int
}

// Server is the HTTP API. It starts as a standby (reads from ServerConfig.Reader, writes
// refused with ErrNotWriter, which sends clients to the next ledger URL) and becomes a
// writer with SetWriter.
type Server struct {
	h      *handler
	mux    *http.ServeMux
	lim    *limiter
	faucet *limiter
}

// NewServer returns a standby API server; see SetWriter.
func NewServer(cfg ServerConfig) *Server {
	h := &handler{id: cfg.ID, core: cfg.Core, keys: channel.NewKeyCache(KeyCacheSize, KeyTables)}
	h.src.Store(&source{r: cfg.Reader})
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
	s := &Server{h: h, mux: mux}
	if cfg.RatePerIP > 0 {
		s.lim = newLimiter(cfg.RatePerIP, max(cfg.BurstPerIP, 1), maxLimited)
	}
	if cfg.FaucetPerIP > 0 {
		s.faucet = newLimiter(cfg.FaucetPerIP, max(cfg.FaucetBurstPerIP, 1), maxLimited)
	}
	return s
}

// SetWriter makes s serve writes through l and reads from l's committed view.
func (s *Server) SetWriter(l *Ledger) { s.h.src.Store(&source{r: l.Reader(), l: l}) }

// ServeHTTP applies the per-address limit, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.lim != nil {
		cost := 1.0
		if r.URL.Path == "/v1/batch" && r.ContentLength > 0 {
			// About 600 bytes per operation: charge a batch by its size before decoding it.
			cost += float64(r.ContentLength/600) / 8
		}
		if !s.lim.allow(clientAddr(r), cost, time.Now()) {
			writeErr(w, errorf(ErrRateLimited, "too many requests from %s", clientAddr(r)))
			return
		}
	}
	// A standby refuses writes before decoding or verifying anything (POST /v1/accounts is a
	// read).
	if r.Method == http.MethodPost && r.URL.Path != "/v1/accounts" && s.h.src.Load().l == nil {
		writeErr(w, errorf(ErrNotWriter, "this ledger process is a standby; send writes to the writer"))
		return
	}
	if s.faucet != nil && r.URL.Path == "/v1/faucet" && !s.faucet.allow(clientAddr(r), 1, time.Now()) {
		writeErr(w, errorf(ErrRateLimited, "too many faucet claims from %s", clientAddr(r)))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// KeyCacheSize is how many signing keys the server keeps parsed (point and address, about
// 200 bytes each), and KeyTables how many of the busiest have a precomputed table (53 KiB
// each; their signatures verify in a third of the time).
const (
	KeyCacheSize = 8192
	KeyTables    = 256
)

// source is where the handler reads and writes; swapped whole when a standby is elected.
type source struct {
	r Reader
	l *Ledger // nil on a standby
}

type handler struct {
	id   channel.LedgerID
	core CoreConfig
	keys *channel.KeyCache
	src  atomic.Pointer[source]
}

func (h *handler) reader() Reader { return h.src.Load().r }

// do queues a mutating op on the writer and answers its result.
func (h *handler) do(w http.ResponseWriter, r *http.Request, op Op) {
	l := h.src.Load().l
	if l == nil {
		writeErr(w, errorf(ErrNotWriter, "this ledger process is a standby; send writes to the writer"))
		return
	}
	body, err := l.Do(r.Context(), op)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeBody(w, body)
}

func writeBody(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeBody(w, b)
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
	a, err := h.keys.VerifyAddress(pub, digest, sig)
	if err != nil {
		return channel.Address{}, verifyErr(err)
	}
	return a, nil
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

func (h *handler) info(w http.ResponseWriter, r *http.Request) {
	sum, err := h.reader().Summary(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	left := uint64(0)
	if h.core.FaucetBudget > sum.Meta.FaucetIssued {
		left = h.core.FaucetBudget - sum.Meta.FaucetIssued
	}
	writeJSON(w, Info{LedgerID: sum.Meta.LedgerID, Treasury: sum.Meta.Treasury, Supply: U64(channel.GenesisSupply),
		Total: U64(sum.Total), Accounts: sum.Accounts, OpenChannels: sum.OpenChannels, FaucetBits: h.core.FaucetDifficulty(&sum.Meta, time.Now()),
		FaucetAmount: U64(h.core.FaucetAmount), FaucetLeft: U64(left)})
}

// createAccount proves the key and answers the account: nothing is created (an account
// exists once it holds tokens), so it never reaches the writer.
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
	h.account(w, r, addr)
}

func (h *handler) getAccount(w http.ResponseWriter, r *http.Request) {
	a, err := channel.ParseAddress(r.PathValue("address"))
	if err != nil {
		writeErr(w, errorf(ErrBadRequest, "%v", err))
		return
	}
	h.account(w, r, a)
}

func (h *handler) account(w http.ResponseWriter, r *http.Request, a channel.Address) {
	st, _, err := h.reader().Account(r.Context(), a)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, Account{Address: a, Balance: U64(st.Balance), FaucetClaims: st.FaucetClaims})
}

// funded refuses, before the writer sees it, a request spending from an address that holds
// no account: a fresh key costs the writer nothing.
func (h *handler) funded(ctx context.Context, a channel.Address) error {
	_, ok, err := h.reader().Account(ctx, a)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(ErrInsufficientFunds, "%s has no account: an address exists once it holds tokens", a)
	}
	return nil
}

func (h *handler) faucet(w http.ResponseWriter, r *http.Request) {
	var req FaucetRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	d := req.Digest(h.id)
	// Check the work before the (costlier) signature, so junk is cheap to refuse.
	if h.src.Load().l == nil {
		writeErr(w, errorf(ErrNotWriter, "this ledger process is a standby; send writes to the writer"))
		return
	}
	sum, err := h.reader().Summary(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	// The writer checks again at its own clock; this refuses junk before the signature.
	if got, want := LeadingZeroBits(d), h.core.FaucetDifficulty(&sum.Meta, time.Now()); got < want {
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
	b, err := readBody(w, r, MaxRequestBytes)
	if err == nil {
		err = ParseTransferRequest(b, &req)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	op, err := h.transferOp(&req)
	if err == nil {
		err = h.funded(r.Context(), op.(Transfer).From)
	}
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
	if err == nil {
		err = h.funded(r.Context(), op.(OpenChannel).PayerAddress)
	}
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
	ch, ok, err := h.reader().Channel(r.Context(), id)
	switch {
	case err != nil:
		writeErr(w, err)
	case !ok:
		writeErr(w, errorf(ErrNotFound, "channel %s", id))
	default:
		writeJSON(w, &ch)
	}
}

// Channel listings are paged: MaxPage channels at most per answer (about 70 KB), the
// default too.
const MaxPage = 100

func (h *handler) listChannels(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a, err := channel.ParseAddress(q.Get("address"))
	if err != nil {
		writeErr(w, errorf(ErrBadRequest, "address: %v", err))
		return
	}
	var after Cursor
	if s := q.Get("after"); s != "" {
		if after, err = ParseCursor(s); err != nil {
			writeErr(w, errorf(ErrBadRequest, "%v", err))
			return
		}
	}
	limit := MaxPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPage {
			writeErr(w, errorf(ErrBadRequest, "limit is 1 to %d", MaxPage))
			return
		}
		limit = n
	}
	chs, err := h.reader().Channels(r.Context(), a, after, limit+1)
	if err != nil {
		writeErr(w, err)
		return
	}
	l := ChannelList{Channels: chs}
	if len(chs) > limit {
		l.Channels = chs[:limit]
		last := &chs[limit-1]
		l.Next = Cursor{OpenedAt: last.OpenedAt, ID: last.ID}.String()
	}
	if l.Channels == nil {
		l.Channels = []Channel{}
	}
	writeJSON(w, l)
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
	if err == nil {
		err = h.known(r.Context(), id)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	h.do(w, r, op)
}

// known refuses, before the writer sees it, a close of a channel that was never committed.
func (h *handler) known(ctx context.Context, id channel.ChannelID) error {
	_, ok, err := h.reader().Channel(ctx, id)
	if err == nil && !ok {
		err = errorf(ErrNotFound, "channel %s", id)
	}
	return err
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
