package ledger_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/speedbt/btt/channel/ledger"
)

func TestParseURLs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		fail bool
	}{
		{"http://127.0.0.1:7000", 1, false},
		{"http://a:1, https://b:2/", 2, false},
		{"", 0, true},
		{"127.0.0.1:7000", 0, true},
		{"http://a:1,", 0, true},
		{"ftp://a", 0, true},
		{"http://a,http://a,http://a,http://a,http://a,http://a,http://a,http://a,http://a", 0, true},
	} {
		got, err := ledger.ParseURLs(tc.in)
		if (err != nil) != tc.fail || len(got) != tc.n {
			t.Errorf("ParseURLs(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// TestClientFailover: a client with a dead URL, a standby's (503 not_writer) and the
// writer's reaches the writer, and then keeps sending there first.
func TestClientFailover(t *testing.T) {
	ctx := context.Background()
	tl := startLedger(t, filepath.Join(t.TempDir(), "l.db"))
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // connection refused
	var standbyHits atomic.Int32
	standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		standbyHits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"not_writer","message":"standby"}`))
	}))
	defer standby.Close()
	c := ledger.NewClient(dead.URL+","+standby.URL+","+tl.srv.URL, nil)
	if _, err := c.Transfer(ctx, tl.treasury, key(t, 1).Address(), 5); err != nil {
		t.Fatal(err)
	}
	hits := standbyHits.Load()
	if hits == 0 {
		t.Fatal("the standby was not tried")
	}
	if _, err := c.Transfer(ctx, tl.treasury, key(t, 1).Address(), 5); err != nil {
		t.Fatal(err)
	}
	if standbyHits.Load() != hits {
		t.Error("the client did not stay with the URL that answered")
	}
	if a, err := c.Balance(ctx, key(t, 1).Address()); err != nil || a.Balance != 10 {
		t.Fatalf("balance %+v, %v", a, err)
	}
	// A refusal is an answer: it is not retried elsewhere.
	if _, err := c.Transfer(ctx, key(t, 2), key(t, 1).Address(), 5); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("unfunded transfer: %v", err)
	}
}
