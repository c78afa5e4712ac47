package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
)

type testLedger struct {
	l        *ledger.Ledger
	srv      *httptest.Server
	c        *ledger.Client
	treasury *channel.PrivateKey
	id       channel.LedgerID
	now      *clock
	stop     func()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startLedger runs a ledger on a real bbolt file behind a real HTTP server on loopback.
func startLedger(t testing.TB, path string) *testLedger {
	t.Helper()
	st, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return startLedgerOn(t, st)
}

// startLedgerOn runs a ledger on st (closed at the end) behind a real HTTP server; opts
// adjust the configuration.
func startLedgerOn(t testing.TB, st ledger.Store, opts ...func(*ledger.Config)) *testLedger {
	t.Helper()
	tr := key(t, 0)
	clk := &clock{t: time.Now()}
	cfg := ledger.DefaultConfig()
	cfg.Treasury = tr.Address()
	cfg.Core.FaucetBits = 4
	cfg.Core.ReceiptWindow = 0 // the tests sign with small fixed nonces; window_test.go tests the window
	cfg.SweepInterval = 20 * time.Millisecond
	cfg.Now = clk.Now
	for _, o := range opts {
		o(&cfg)
	}
	l, err := ledger.Open(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	srv := httptest.NewServer(ledger.NewHandler(l))
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Close()
			cancel()
			<-done
			st.Close()
		})
	}
	t.Cleanup(stop)
	return &testLedger{l: l, srv: srv, c: ledger.NewClient(srv.URL, srv.Client()), treasury: tr, id: l.ID(), now: clk, stop: stop}
}

func (tl *testLedger) info(t testing.TB) ledger.Info {
	t.Helper()
	in, err := tl.c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestHTTPFlow(t *testing.T) {
	ctx := context.Background()
	tl := startLedger(t, filepath.Join(t.TempDir(), "l.db"))
	alice, bob := key(t, 1), key(t, 2)
	if _, err := tl.c.CreateAccount(ctx, alice); err != nil {
		t.Fatal(err)
	}
	fr, err := tl.c.Faucet(ctx, alice)
	if err != nil || uint64(fr.Balance) != ledger.DefaultCoreConfig.FaucetAmount {
		t.Fatalf("faucet: %+v, %v", fr, err)
	}
	if _, err := tl.c.Faucet(ctx, alice); !errors.Is(err, ledger.ErrFaucetLimit) {
		t.Fatalf("second faucet claim: %v, want ErrFaucetLimit", err)
	}
	if _, err := tl.c.Transfer(ctx, tl.treasury, alice.Address(), 5000); err != nil {
		t.Fatal(err)
	}
	ch, err := tl.c.OpenChannel(ctx, alice, bob.Public(), 3000, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tl.c.Channel(ctx, ch.ID)
	if err != nil || got.Status != ledger.StatusOpen || got.Amount != 3000 || got.Payee != bob.Public() {
		t.Fatalf("get channel: %+v, %v", got, err)
	}
	// The provider validates vouchers against what the ledger says.
	if _, err := tl.c.ChannelState(ctx, ch.ID, alice.Public()); !errors.Is(err, ledger.ErrMismatch) {
		t.Fatalf("ChannelState for the wrong payee: %v", err)
	}
	st, err := tl.c.ChannelState(ctx, ch.ID, bob.Public())
	if err != nil || st.Deposit != 3000 || st.Payer != alice.Public() {
		t.Fatalf("ChannelState: %+v, %v", st, err)
	}
	v := channel.SignVoucher(alice, channel.Voucher{Channel: ch.ID, Sequence: 1, Cumulative: 1200})
	if _, err := st.Accept(v, time.Now()); err != nil {
		t.Fatal(err)
	}
	closed, err := tl.c.CloseChannel(ctx, bob, alice.Public(), v)
	if err != nil || closed.Status != ledger.StatusClosed || closed.Paid != 1200 || closed.Refunded != 1800 {
		t.Fatalf("close: %+v, %v", closed, err)
	}
	if _, err := tl.c.CloseChannel(ctx, bob, alice.Public(),
		channel.SignVoucher(alice, channel.Voucher{Channel: ch.ID, Sequence: 2, Cumulative: 1300})); !errors.Is(err, ledger.ErrChannelClosed) {
		t.Fatalf("close twice: %v", err)
	}
	// Close by the payer is refused.
	ch2, err := tl.c.OpenChannel(ctx, alice, bob.Public(), 100, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	v2 := channel.SignVoucher(alice, channel.Voucher{Channel: ch2.ID, Sequence: 1, Cumulative: 0})
	req := ledger.NewCloseRequest(alice.Public(), bob.Public(), channel.SignClose(alice, v2))
	if err := tl.c.Post(ctx, "/v1/channels/"+ch2.ID.String()+"/close", &req, nil); !errors.Is(err, ledger.ErrBadSignature) ||
		!strings.Contains(err.Error(), "payee") {
		t.Fatalf("close by payer: %v", err)
	}
	list, err := tl.c.Channels(ctx, bob.Address())
	if err != nil || len(list) != 2 || list[0].ID != ch.ID && list[1].ID != ch.ID {
		t.Fatalf("list: %d channels, %v", len(list), err)
	}
	a, _ := tl.c.Balance(ctx, alice.Address())
	b, _ := tl.c.Balance(ctx, bob.Address())
	wantA := ledger.DefaultCoreConfig.FaucetAmount + 5000 - 1200 - 100
	if uint64(a.Balance) != wantA || b.Balance != 1200 {
		t.Fatalf("balances alice %d (want %d) bob %d", a.Balance, wantA, b.Balance)
	}
	if in := tl.info(t); in.Total != in.Supply || in.OpenChannels != 1 {
		t.Fatalf("info %+v", in)
	}
}

func TestSweeperRefundsExpired(t *testing.T) {
	ctx := context.Background()
	tl := startLedger(t, filepath.Join(t.TempDir(), "l.db"))
	alice, bob := key(t, 1), key(t, 2)
	if _, err := tl.c.Transfer(ctx, tl.treasury, alice.Address(), 1000); err != nil {
		t.Fatal(err)
	}
	ch, err := tl.c.OpenChannel(ctx, alice, bob.Public(), 600, tl.now.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tl.now.Add(11 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := tl.c.Channel(ctx, ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == ledger.StatusExpired {
			if got.Refunded != 600 || got.Paid != 0 {
				t.Fatalf("expired channel %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sweeper did not refund the expired channel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a, _ := tl.c.Balance(ctx, alice.Address()); a.Balance != 1000 {
		t.Fatalf("alice %d after refund, want 1000", a.Balance)
	}
	v := channel.SignVoucher(alice, channel.Voucher{Channel: ch.ID, Sequence: 1, Cumulative: 10})
	if _, err := tl.c.CloseChannel(ctx, bob, alice.Public(), v); !errors.Is(err, ledger.ErrChannelClosed) {
		t.Fatalf("close after refund: %v", err)
	}
}

// TestBadRequests sends malformed, unsigned, badly signed, replayed and oversized requests
// and checks each gets the right 4xx and changes nothing.
func TestBadRequests(t *testing.T) {
	ctx := context.Background()
	tl := startLedger(t, filepath.Join(t.TempDir(), "l.db"))
	alice, bob := key(t, 1), key(t, 2)
	good := ledger.TransferRequest{To: alice.Address(), Amount: 1000, Nonce: 1}
	good.Sign(tl.id, tl.treasury)
	var first ledger.TransferResult
	if err := tl.c.Post(ctx, "/v1/transfers", &good, &first); err != nil {
		t.Fatal(err)
	}
	goodJSON, _ := json.Marshal(&good)
	obj := func(mut func(m map[string]any)) string {
		var m map[string]any
		json.Unmarshal(goodJSON, &m)
		mut(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	otherLedger := good
	otherLedger.Nonce = 2
	otherLedger.Sign(channel.LedgerID{9}, tl.treasury)
	olJSON, _ := json.Marshal(&otherLedger)
	highS := good
	highS.Nonce = 3
	highS.Sign(tl.id, tl.treasury)
	highS.Sig = highS.Sig.Malleate()
	hsJSON, _ := json.Marshal(&highS)
	wrongKey := good
	wrongKey.Nonce = 4
	wrongKey.Sign(tl.id, tl.treasury)
	wrongKey.PubKey = alice.Public()
	wkJSON, _ := json.Marshal(&wrongKey)
	reuse := good
	reuse.Amount = 2000
	reuse.Sign(tl.id, tl.treasury)
	reuseJSON, _ := json.Marshal(&reuse)
	broke := ledger.TransferRequest{To: tl.treasury.Address(), Amount: 1, Nonce: 1}
	broke.Sign(tl.id, bob)
	brokeJSON, _ := json.Marshal(&broke)
	faucetLazy := ledger.FaucetRequest{Nonce: 1}
	faucetLazy.PubKey = bob.Public()
	for faucetLazy.Work = 0; ledger.LeadingZeroBits(faucetLazy.Digest(tl.id)) >= 4; faucetLazy.Work++ {
	}
	faucetLazy.Sig = bob.Sign(faucetLazy.Digest(tl.id))
	flJSON, _ := json.Marshal(&faucetLazy)

	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"not json", "POST", "/v1/transfers", "hello", 400, "bad_request"},
		{"empty body", "POST", "/v1/transfers", "", 400, "bad_request"},
		{"array", "POST", "/v1/transfers", "[]", 400, "bad_request"},
		{"unknown field", "POST", "/v1/transfers", obj(func(m map[string]any) { m["memo"] = "x" }), 400, "bad_request"},
		{"trailing data", "POST", "/v1/transfers", string(goodJSON) + "{}", 400, "bad_request"},
		{"float amount", "POST", "/v1/transfers", obj(func(m map[string]any) { m["amount"] = 1.5 }), 400, "bad_request"},
		{"negative amount", "POST", "/v1/transfers", obj(func(m map[string]any) { m["amount"] = -1 }), 400, "bad_request"},
		{"amount overflow", "POST", "/v1/transfers", obj(func(m map[string]any) { m["amount"] = "18446744073709551616" }), 400, "bad_request"},
		{"bad address", "POST", "/v1/transfers", obj(func(m map[string]any) { m["to"] = "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeM" }), 400, "bad_request"},
		{"bad pubkey", "POST", "/v1/transfers", obj(func(m map[string]any) { m["pubkey"] = "02" + strings.Repeat("ff", 32) }), 400, "bad_request"},
		{"unsigned", "POST", "/v1/transfers", obj(func(m map[string]any) { delete(m, "sig") }), 401, "bad_signature"},
		{"short sig", "POST", "/v1/transfers", obj(func(m map[string]any) { m["sig"] = "00" }), 400, "bad_request"},
		{"tampered amount", "POST", "/v1/transfers", obj(func(m map[string]any) { m["amount"] = "1001" }), 401, "bad_signature"},
		{"other ledger", "POST", "/v1/transfers", string(olJSON), 401, "bad_signature"},
		{"high-S", "POST", "/v1/transfers", string(hsJSON), 401, "bad_signature"},
		{"wrong key", "POST", "/v1/transfers", string(wkJSON), 401, "bad_signature"},
		{"nonce reused", "POST", "/v1/transfers", string(reuseJSON), 409, "nonce_reused"},
		{"insufficient", "POST", "/v1/transfers", string(brokeJSON), 422, "insufficient_funds"},
		{"oversized", "POST", "/v1/transfers", `{"pubkey":"` + strings.Repeat("a", ledger.MaxRequestBytes) + `"}`, 413, "too_large"},
		{"faucet without work", "POST", "/v1/faucet", string(flJSON), 422, "bad_work"},
		{"unknown route", "GET", "/v1/nope", "", 404, "not_found"},
		{"bad channel id", "GET", "/v1/channels/xyz", "", 400, "bad_request"},
		{"missing channel", "GET", "/v1/channels/" + strings.Repeat("00", 32), "", 404, "not_found"},
		{"bad account", "GET", "/v1/accounts/nothex", "", 400, "bad_request"},
		{"list without address", "GET", "/v1/channels", "", 400, "bad_request"},
		{"close garbage", "POST", "/v1/channels/" + strings.Repeat("00", 32) + "/close", "{}", 400, "bad_request"},
	}
	before := tl.info(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tl.srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := tl.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e ledger.Error
			json.Unmarshal(b, &e)
			if resp.StatusCode != tt.status || e.Code != tt.code || e.Msg == "" {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, b, tt.status, tt.code)
			}
		})
	}
	// The exact replay answers the same bytes.
	resp, err := tl.srv.Client().Post(tl.srv.URL+"/v1/transfers", "application/json", bytes.NewReader(goodJSON))
	if err != nil {
		t.Fatal(err)
	}
	replayed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	firstJSON, _ := json.Marshal(first)
	if resp.StatusCode != 200 || !bytes.Equal(replayed, firstJSON) {
		t.Fatalf("replay: %d %s, first %s", resp.StatusCode, replayed, firstJSON)
	}
	after := tl.info(t)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("bad requests changed the ledger: %+v -> %+v", before, after)
	}
	if a, _ := tl.c.Balance(ctx, alice.Address()); a.Balance != 1000 {
		t.Fatalf("alice %d, want 1000", a.Balance)
	}
}

func TestRestartKeepsState(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	alice, bob := key(t, 1), key(t, 2)
	tl := startLedger(t, path)
	if _, err := tl.c.Transfer(ctx, tl.treasury, alice.Address(), 777); err != nil {
		t.Fatal(err)
	}
	ch, err := tl.c.OpenChannel(ctx, alice, bob.Public(), 300, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	id := tl.id
	tl.stop()

	tl = startLedger(t, path)
	if tl.id != id {
		t.Fatalf("ledger id changed across restart")
	}
	if a, _ := tl.c.Balance(ctx, alice.Address()); a.Balance != 477 {
		t.Fatalf("alice %d after restart, want 477", a.Balance)
	}
	v := channel.SignVoucher(alice, channel.Voucher{Channel: ch.ID, Sequence: 1, Cumulative: 100})
	if _, err := tl.c.CloseChannel(ctx, bob, alice.Public(), v); err != nil {
		t.Fatalf("close after restart: %v", err)
	}
	if in := tl.info(t); in.Total != in.Supply {
		t.Fatalf("total %d != supply %d", in.Total, in.Supply)
	}
}
