package ledger

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"sync"

	"github.com/speedbt/btt/channel"
)

// Batch limits. A batch is a transport for independent signed operations: it saves the
// per-request HTTP cost for clients that settle many channels or pay many peers at once.
const (
	MaxBatchOps   = 256
	MaxBatchBytes = MaxBatchOps * 1024
)

// BatchRequest carries up to MaxBatchOps signed operations. Path: POST /v1/batch.
//
// Each operation is exactly what its own endpoint takes, signed the same way, and is
// checked, applied, made durable and made idempotent on its own: a batch is not a
// transaction, one operation's failure changes nothing for the others. Operations are
// applied in the order given, so a batch may open a channel and then close it.
type BatchRequest struct {
	Ops []BatchOp `json:"ops"`
}

// BatchOp is one operation of a batch: exactly one field is set.
type BatchOp struct {
	Transfer *TransferRequest `json:"transfer,omitempty"`
	Open     *OpenRequest     `json:"open,omitempty"`
	Close    *BatchClose      `json:"close,omitempty"`
}

// BatchClose is a close request with the channel it closes (which the single endpoint takes
// from its path).
type BatchClose struct {
	Channel channel.ChannelID `json:"channel"`
	CloseRequest
}

// BatchResponse has one result per operation, in the order of the request.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is one operation's outcome: Status 200 with Body, the bytes the operation's own
// endpoint answers (and answers again on a replay), or the status and Error it would refuse
// it with.
type BatchResult struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Err returns the result's error, nil for status 200.
func (r *BatchResult) Err() error {
	if r.Status == http.StatusOK {
		return nil
	}
	if r.Error == nil {
		return &Error{Status: r.Status, Code: "http_status"}
	}
	e := *r.Error
	e.Status = r.Status
	return &e
}

func (h *handler) batch(w http.ResponseWriter, r *http.Request) {
	var req BatchRequest
	if err := decodeMax(w, r, &req, MaxBatchBytes); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Ops) == 0 || len(req.Ops) > MaxBatchOps {
		writeErr(w, errorf(ErrBadRequest, "a batch holds 1 to %d operations, not %d", MaxBatchOps, len(req.Ops)))
		return
	}
	ops := make([]Op, len(req.Ops))
	errs := make([]error, len(req.Ops))
	// Signature checks are the costly part: spread them over the cores, so that one client
	// with one connection still uses the whole machine.
	workers := min(runtime.GOMAXPROCS(0), (len(ops)+15)/16)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(ops); i += workers {
				ops[i], errs[i] = h.batchOp(&req.Ops[i])
			}
		})
	}
	wg.Wait()
	// Before anything reaches the writer: a spender must hold an account, committed or
	// funded by an operation earlier in this batch, and a close must name a committed
	// channel or one this batch opens before it.
	funded := map[channel.Address]bool{}
	opened := map[channel.ChannelID]bool{}
	for i, op := range ops {
		var err error
		switch o := op.(type) {
		case Transfer:
			if !funded[o.From] {
				err = h.funded(r.Context(), o.From)
			}
			if err == nil {
				funded[o.To] = true
			}
		case OpenChannel:
			if !funded[o.PayerAddress] {
				err = h.funded(r.Context(), o.PayerAddress)
			}
			if err == nil {
				opened[o.Open.ID()] = true
			}
		case CloseChannel:
			if id := o.Close.Voucher.Channel; !opened[id] {
				err = h.known(r.Context(), id)
			}
			if a, aerr := h.keys.Address(o.Payee); err == nil && aerr == nil {
				funded[a] = true // the close may pay the payee
			}
		}
		if err != nil {
			ops[i], errs[i] = nil, err
		}
	}
	results := make([]BatchResult, len(ops))
	l := h.src.Load().l
	if l == nil {
		writeErr(w, errorf(ErrNotWriter, "this ledger process is a standby; send writes to the writer"))
		return
	}
	bodies, derrs := l.DoBatch(r.Context(), ops)
	for i := range results {
		err := errs[i]
		if err == nil {
			err = derrs[i]
		}
		if err == nil {
			results[i] = BatchResult{Status: http.StatusOK, Body: bodies[i]}
			continue
		}
		e := toError(err)
		results[i] = BatchResult{Status: e.Status, Error: e}
	}
	b, err := json.Marshal(BatchResponse{Results: results})
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (h *handler) batchOp(o *BatchOp) (Op, error) {
	switch {
	case o.Transfer != nil && o.Open == nil && o.Close == nil:
		return h.transferOp(o.Transfer)
	case o.Open != nil && o.Transfer == nil && o.Close == nil:
		return h.openOp(o.Open)
	case o.Close != nil && o.Transfer == nil && o.Open == nil:
		return h.closeOp(o.Close.Channel, &o.Close.CloseRequest)
	}
	return nil, errorf(ErrBadRequest, "a batch operation has exactly one of transfer, open, close")
}

// DoBatch queues ops in order (nil entries are skipped) and waits for all of them; it
// returns each one's body or error as Do would. Operations queued before ctx ended may
// still be applied.
func (l *Ledger) DoBatch(ctx context.Context, ops []Op) ([][]byte, []error) {
	bodies, errs := make([][]byte, len(ops)), make([]error, len(ops))
	reqs := make([]*request, len(ops))
	for i, op := range ops {
		if op == nil {
			continue
		}
		r := &request{op: op, done: make(chan struct{})}
		if err := l.enqueue(ctx, r); err != nil {
			errs[i] = err
			continue
		}
		reqs[i] = r
	}
	for i, r := range reqs {
		if r != nil {
			bodies[i], errs[i] = l.wait(ctx, r)
		}
	}
	return bodies, errs
}
