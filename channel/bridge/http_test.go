package bridge_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/internal/bridgetest"
)

// TestBridgeAPIBadInput sends the ledger's bridge endpoints what a confused or hostile client
// would: each is refused with its status and changes nothing.
func TestBridgeAPIBadInput(t *testing.T) {
	r := bridgetest.New(t, 2, 100*btt)
	id, err := r.Ledger.LedgerID(r.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	alice := r.User(5 * btt)
	mallory, _ := channel.GenerateKey()
	post := func(path string, body any) int {
		t.Helper()
		var b []byte
		if s, ok := body.(string); ok {
			b = []byte(s)
		} else {
			b, _ = json.Marshal(body)
		}
		resp, err := http.Post(r.LedgerURL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get := func(path string) int {
		t.Helper()
		resp, err := http.Get(r.LedgerURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	scan := ledger.BridgeScanRequest{PubKey: mallory.Public(), Height: 99, Hash: ledger.Hash{1}}
	scan.Sig = mallory.Sign(scan.Digest(id))
	dep := ledger.BridgeDepositRequest{PubKey: r.BridgeKey.Public(), Tx: "00" + strings.Repeat("ab", 65), Block: 5}
	dep.Sig = r.BridgeKey.Sign(dep.Digest(id))
	w := ledger.WithdrawRequest{To: alice.Address(), Amount: 0, Nonce: ledger.U64(ledger.NewNonce())}
	w.Sign(id, alice)
	forged := ledger.WithdrawRequest{To: alice.Address(), Amount: 1, Nonce: ledger.U64(ledger.NewNonce())}
	forged.Sign(id, mallory)
	forged.PubKey = alice.Public()
	for _, c := range []struct {
		name   string
		status int
		got    int
	}{
		{"scan signed by another key", 401, post("/v1/bridge/scan", &scan)},
		{"deposit of bytes that are no transaction", 422, post("/v1/bridge/deposit", &dep)},
		{"deposit body too large", 413, post("/v1/bridge/deposit", `{"tx":"`+strings.Repeat("0", 300_000)+`"}`)},
		{"withdrawal with an unknown field", 400, post("/v1/withdrawals", `{"pubkey":"","to":"","amount":"1","nonce":"1","sig":"","x":1}`)},
		{"withdrawal with a fractional amount", 400, post("/v1/withdrawals", `{"amount":1.5}`)},
		{"withdrawal of zero", 422, post("/v1/withdrawals", &w)},
		{"withdrawal signed by another key", 401, post("/v1/withdrawals", &forged)},
		{"withdrawal id that is not hex", 400, get("/v1/withdrawals/zz")},
		{"unknown withdrawal", 404, get("/v1/withdrawals/" + strings.Repeat("ab", 32))},
		{"history of a bad address", 400, get("/v1/history?address=Tnope")},
	} {
		if c.got != c.status {
			t.Errorf("%s: status %d, want %d", c.name, c.got, c.status)
		}
	}
	if r.Balance(alice.Address()) != 5*btt {
		t.Fatal("a refused request moved tokens")
	}
	info, _ := r.Ledger.Bridge(r.Ctx)
	if info.ScanHeight == 99 || len(info.Open) != 0 {
		t.Fatalf("refused requests changed the bridge: %+v", info)
	}
	r.CheckSupply()
}
