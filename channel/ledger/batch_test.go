package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

// A batch applies each operation on its own, in order, with the same checks, answers and
// idempotency as the single endpoints.
func TestBatch(t *testing.T) {
	ctx := context.Background()
	tl := startLedger(t, filepath.Join(t.TempDir(), "l.db"))
	alice, bob := key(t, 1), key(t, 2)

	fund := &ledger.TransferRequest{To: alice.Address(), Amount: 10_000, Nonce: 1}
	fund.Sign(tl.id, tl.treasury)
	open := &ledger.OpenRequest{Payee: bob.Public(), Amount: 3000, Nonce: 2, Expiry: ledger.U64(time.Now().Add(time.Hour).Unix())}
	open.Sign(tl.id, alice) // alice is funded by the operation before it
	om := open.Message(tl.id)
	id := om.ID()
	v := channel.SignVoucher(alice, channel.Voucher{Channel: id, Sequence: 1, Cumulative: 1000})
	cl := &ledger.BatchClose{Channel: id, CloseRequest: ledger.NewCloseRequest(alice.Public(), bob.Public(), channel.SignClose(bob, v))}
	forged := &ledger.TransferRequest{To: bob.Address(), Amount: 1, Nonce: 3}
	forged.Sign(tl.id, alice)
	forged.Amount = 1000 // no longer what alice signed
	broke := &ledger.TransferRequest{To: alice.Address(), Amount: 1, Nonce: 4}
	broke.Sign(tl.id, bob) // bob has nothing yet: the close below pays him later

	ops := []ledger.BatchOp{{Transfer: fund}, {Open: open}, {Transfer: forged}, {Transfer: broke}, {Close: cl},
		{Transfer: fund, Open: open}, {}}
	res, err := tl.c.Batch(ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status int
		err    error
	}{{200, nil}, {200, nil}, {401, ledger.ErrBadSignature}, {422, ledger.ErrInsufficientFunds}, {200, nil},
		{400, ledger.ErrBadRequest}, {400, ledger.ErrBadRequest}}
	for i, w := range want {
		if res[i].Status != w.status || (w.err == nil) != (res[i].Err() == nil) || w.err != nil && !errors.Is(res[i].Err(), w.err) {
			t.Errorf("op %d: status %d, %v; want %d, %v", i, res[i].Status, res[i].Err(), w.status, w.err)
		}
	}
	// The bodies are what the single endpoints answer: a replay there gets the same bytes.
	var single json.RawMessage
	if err := tl.c.Post(ctx, "/v1/transfers", fund, &single); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res[0].Body, single) {
		t.Errorf("batch body %s, replayed single answer %s", res[0].Body, single)
	}
	got, err := tl.c.Channel(ctx, id)
	if err != nil || got.Status != ledger.StatusClosed || got.Paid != 1000 {
		t.Fatalf("channel after the batch: %+v, %v", got, err)
	}
	// Replaying the whole batch applies nothing twice.
	if _, err := tl.c.Batch(ctx, ops[:2]); err != nil {
		t.Fatal(err)
	}
	a, _ := tl.c.Balance(ctx, alice.Address())
	b, _ := tl.c.Balance(ctx, bob.Address())
	if a.Balance != 10_000-1000 || b.Balance != 1000 {
		t.Fatalf("balances alice %d bob %d, want 9000 and 1000", a.Balance, b.Balance)
	}
	if in := tl.info(t); in.Total != in.Supply {
		t.Fatalf("total %d != supply %d", in.Total, in.Supply)
	}

	// Refused as a whole: empty, too many operations, too large, malformed.
	tooMany := make([]ledger.BatchOp, ledger.MaxBatchOps+1)
	for i := range tooMany {
		tooMany[i] = ledger.BatchOp{Transfer: fund}
	}
	for _, tc := range []struct {
		name string
		body any
		want error
	}{
		{"empty", ledger.BatchRequest{}, ledger.ErrBadRequest},
		{"too many", ledger.BatchRequest{Ops: tooMany}, ledger.ErrBadRequest},
		{"too large", map[string]string{"ops": strings.Repeat("x", ledger.MaxBatchBytes)}, ledger.ErrTooLarge},
		{"unknown field", map[string]any{"ops": []any{map[string]any{"mint": 1}}}, ledger.ErrBadRequest},
	} {
		err := tl.c.Post(ctx, "/v1/batch", tc.body, nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		var le *ledger.Error
		if errors.As(err, &le) && le.Status >= http.StatusInternalServerError {
			t.Errorf("%s: server error %v", tc.name, err)
		}
	}
	if in := tl.info(t); in.Total != in.Supply {
		t.Fatalf("total %d != supply %d after refused batches", in.Total, in.Supply)
	}
}
