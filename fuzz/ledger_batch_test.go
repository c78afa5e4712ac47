package fuzz

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/internal/ledgertest"
)

// FuzzLedgerBatch sends arbitrary bodies to a real ledger's POST /v1/batch (bbolt store,
// HTTP handler): no input gets a server error, a refused batch is a 4xx, an answered one has
// one result per operation, and tokens are never created or destroyed.
func FuzzLedgerBatch(f *testing.F) {
	tk, alice, bob := fuzzKey(0), fuzzKey(1), fuzzKey(2)
	// The seeds sign with small fixed nonces: no receipt window.
	l := ledgertest.Open(f, tk, func(c *ledger.Config) { c.Core.ReceiptWindow = 0 })
	h := ledger.NewHandler(l.Ledger)
	id := l.ID()

	fund := &ledger.TransferRequest{To: alice.Address(), Amount: 10_000, Nonce: 1}
	fund.Sign(id, tk)
	open := &ledger.OpenRequest{Payee: bob.Public(), Amount: 300, Nonce: 2, Expiry: ledger.U64(time.Now().Add(time.Hour).Unix())}
	open.Sign(id, alice)
	om := open.Message(id)
	v := channel.SignVoucher(alice, channel.Voucher{Channel: om.ID(), Sequence: 1, Cumulative: 100})
	cl := &ledger.BatchClose{Channel: om.ID(), CloseRequest: ledger.NewCloseRequest(alice.Public(), bob.Public(), channel.SignClose(bob, v))}
	for _, ops := range [][]ledger.BatchOp{{{Transfer: fund}, {Open: open}, {Close: cl}}, {{Open: open, Close: cl}}, {{}}} {
		b, _ := json.Marshal(ledger.BatchRequest{Ops: ops})
		f.Add(b)
	}
	f.Add([]byte(`{"ops":[{"transfer":{"amount":"1e3"}}]}`))
	f.Add([]byte(`{"ops":null}`))

	f.Fuzz(func(t *testing.T, in []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/batch", bytes.NewReader(in)))
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for %q: %s", rec.Code, in, rec.Body)
		case rec.Code == http.StatusOK:
			var req ledger.BatchRequest
			var resp ledger.BatchResponse
			if err := strictDecode(in, &req); err != nil {
				t.Fatalf("answered a body that does not decode: %v", err)
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Results) != len(req.Ops) {
				t.Fatalf("%d operations, response %s (%v)", len(req.Ops), rec.Body, err)
			}
			for _, r := range resp.Results {
				if r.Status >= 500 {
					t.Fatalf("operation answered %d: %+v", r.Status, r.Error)
				}
			}
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/info", nil))
		var info ledger.Info
		if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil || info.Total != info.Supply {
			t.Fatalf("after %q: info %s (%v)", in, rec.Body, err)
		}
	})
}
