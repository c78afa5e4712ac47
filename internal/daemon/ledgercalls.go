package daemon

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/speedbt/btt/internal/metrics"
)

// LedgerCalls measures the calls the daemon makes to Speed ledgers (opening and closing
// channels, checking a payer's channel, reading the wallet's balance): how many, of which
// kind, with which outcome, and how long each took from sending the request to reading the
// whole answer. It sits in the HTTP client the ledger clients use (Client), so it sees every
// call and every failover attempt as the ledger sees them.
//
// Bound: kinds and outcomes are fixed sets (ledgerKinds, outcomes), so there are at most
// len(ledgerKinds)·4 histograms of 16 buckets each, however many calls are made.
type LedgerCalls struct {
	mu    sync.Mutex
	hists map[ledgerCall]*metrics.Hist
}

type ledgerCall struct{ kind, outcome string }

// ledgerBuckets are the latency bounds in seconds: 1 ms to 16 s, doubling. A loopback ledger
// answers in a few milliseconds; a failover takes seconds (ledger.FailoverTimeout is 15 s).
var ledgerBuckets = metrics.ExpBuckets(0.001, 2, 15)

// Outcomes of a call.
const (
	outcomeOK          = "ok"          // 2xx
	outcomeRefused     = "refused"     // 4xx: the ledger answered with an error (insufficient funds, closed channel...)
	outcomeUnavailable = "unavailable" // 5xx: a standby, or a ledger that failed
	outcomeNoAnswer    = "no_answer"   // no response: connection refused, timeout, cancelled
)

// ledgerKind names a ledger API call from its method and path (channel/ledger's client).
func ledgerKind(method, path string) string {
	p := strings.TrimPrefix(path, "/v1/")
	first, rest, _ := strings.Cut(p, "/")
	get := method == http.MethodGet
	switch {
	case first == "info" && get:
		return "info"
	case first == "accounts" && get:
		return "balance"
	case first == "accounts":
		return "create_account"
	case first == "faucet":
		return "faucet"
	case first == "transfers":
		return "transfer"
	case first == "batch":
		return "batch"
	case first == "channels" && get && rest == "":
		return "list_channels"
	case first == "channels" && get:
		return "channel"
	case first == "channels" && strings.HasSuffix(rest, "/close"):
		return "close_channel"
	case first == "channels" && rest == "":
		return "open_channel"
	case first == "withdrawals" || first == "history" || first == "bridge":
		return "bridge"
	}
	return "other"
}

// ledgerKinds are every kind ledgerKind returns, in the order a scrape lists them.
var ledgerKinds = []string{"info", "balance", "create_account", "faucet", "transfer", "batch",
	"list_channels", "channel", "open_channel", "close_channel", "bridge", "other"}

// NewLedgerCalls returns an empty measure.
func NewLedgerCalls() *LedgerCalls {
	return &LedgerCalls{hists: map[ledgerCall]*metrics.Hist{}}
}

func (lc *LedgerCalls) observe(kind, outcome string, d time.Duration) {
	k := ledgerCall{kind, outcome}
	lc.mu.Lock()
	h := lc.hists[k]
	if h == nil {
		h = metrics.NewHist(ledgerBuckets...)
		lc.hists[k] = h
	}
	lc.mu.Unlock()
	h.Observe(d.Seconds())
}

// Count returns how many calls of a kind ended with an outcome.
func (lc *LedgerCalls) Count(kind, outcome string) uint64 {
	lc.mu.Lock()
	h := lc.hists[ledgerCall{kind, outcome}]
	lc.mu.Unlock()
	if h == nil {
		return 0
	}
	return h.Count()
}

// Client returns an HTTP client that measures every call through base (nil: the default
// client's transport).
func (lc *LedgerCalls) Client(base http.RoundTripper) *http.Client {
	if base == nil {
		base = http.DefaultTransport
	}
	return &http.Client{Transport: &measuredTransport{lc: lc, base: base}}
}

type measuredTransport struct {
	lc   *LedgerCalls
	base http.RoundTripper
}

func (m *measuredTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := ledgerKind(req.Method, req.URL.Path)
	start := time.Now()
	resp, err := m.base.RoundTrip(req)
	if err != nil {
		m.lc.observe(kind, outcomeNoAnswer, time.Since(start))
		return nil, err
	}
	outcome := outcomeOK
	switch {
	case resp.StatusCode >= 500:
		outcome = outcomeUnavailable
	case resp.StatusCode >= 400:
		outcome = outcomeRefused
	}
	// The call ends when its answer is read: the client reads the whole body, then closes it.
	resp.Body = &measuredBody{ReadCloser: resp.Body, done: func(readErr error) {
		o := outcome
		if readErr != nil {
			o = outcomeNoAnswer
		}
		m.lc.observe(kind, o, time.Since(start))
	}}
	return resp, nil
}

// measuredBody reports once, when closed, whether reading it failed.
type measuredBody struct {
	io.ReadCloser
	err  error
	once sync.Once
	done func(readErr error)
}

func (b *measuredBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

func (b *measuredBody) Close() error {
	b.once.Do(func() { b.done(b.err) })
	return b.ReadCloser.Close()
}

// families returns the ledger call histogram: one series per kind and outcome seen (a
// daemon without Speed has the family's HELP and TYPE and no series).
func (lc *LedgerCalls) families() []*metrics.Family {
	f := &metrics.Family{
		Name: "btt_ledger_call_seconds",
		Help: "Calls to Speed ledgers by kind and outcome (ok, refused, unavailable, no_answer): their latency in seconds, request sent to answer read; _count counts the calls.",
		Kind: metrics.Histogram,
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, kind := range ledgerKinds {
		for _, outcome := range []string{outcomeOK, outcomeRefused, outcomeUnavailable, outcomeNoAnswer} {
			h := lc.hists[ledgerCall{kind, outcome}]
			if h == nil {
				continue
			}
			h.AddTo(f, metrics.Label{Name: "kind", Value: kind}, metrics.Label{Name: "outcome", Value: outcome})
		}
	}
	return []*metrics.Family{f}
}
