package daemon

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/speedbt/btt/internal/metrics"
)

func TestLedgerKind(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/v1/info", "info"},
		{"GET", "/v1/accounts/0xabc", "balance"},
		{"POST", "/v1/accounts", "create_account"},
		{"POST", "/v1/faucet", "faucet"},
		{"POST", "/v1/transfers", "transfer"},
		{"POST", "/v1/batch", "batch"},
		{"GET", "/v1/channels", "list_channels"},
		{"GET", "/v1/channels/ab12", "channel"},
		{"POST", "/v1/channels", "open_channel"},
		{"POST", "/v1/channels/ab12/close", "close_channel"},
		{"POST", "/v1/withdrawals", "bridge"},
		{"GET", "/v1/history", "bridge"},
		{"GET", "/v2/whatever", "other"},
		{"DELETE", "/", "other"},
	} {
		if got := ledgerKind(tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

// TestLedgerCallsOutcomes sends calls through the measuring client to a real HTTP server
// answering 200, 400 and 503, and to a closed port: each is counted under its kind and
// outcome, and the histogram written for a scrape holds them.
func TestLedgerCallsOutcomes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/close"):
			http.Error(w, `{"code":"channel_closed"}`, http.StatusBadRequest)
		case r.URL.Path == "/v1/info":
			http.Error(w, `{"code":"not_writer"}`, http.StatusServiceUnavailable)
		default:
			w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	lc := NewLedgerCalls()
	hc := lc.Client(nil)
	do := func(method, url string) {
		req, _ := http.NewRequestWithContext(context.Background(), method, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}
	do("GET", srv.URL+"/v1/accounts/x")
	do("GET", srv.URL+"/v1/accounts/y")
	do("POST", srv.URL+"/v1/channels/z/close")
	do("GET", srv.URL+"/v1/info")
	do("GET", closed+"/v1/channels/z")
	for _, tc := range []struct {
		kind, outcome string
		want          uint64
	}{
		{"balance", outcomeOK, 2},
		{"close_channel", outcomeRefused, 1},
		{"info", outcomeUnavailable, 1},
		{"channel", outcomeNoAnswer, 1},
		{"balance", outcomeRefused, 0},
	} {
		if got := lc.Count(tc.kind, tc.outcome); got != tc.want {
			t.Errorf("%s/%s: %d calls, want %d", tc.kind, tc.outcome, got, tc.want)
		}
	}
	var sb strings.Builder
	if err := metrics.Write(&sb, lc.families()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`btt_ledger_call_seconds_count{kind="balance",outcome="ok"} 2`,
		`btt_ledger_call_seconds_bucket{kind="balance",outcome="ok",le="+Inf"} 2`,
		`btt_ledger_call_seconds_count{kind="channel",outcome="no_answer"} 1`,
	} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("scrape lacks %s:\n%s", want, sb.String())
		}
	}
}
