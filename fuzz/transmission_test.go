package fuzz

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/speedbt/btt/internal/daemon"
	"github.com/speedbt/btt/internal/transmission"
)

// FuzzTransmissionRPC posts arbitrary bodies to the RPC of a real daemon (with the right
// session id): every answer is 200 with a JSON result, or 413; nothing panics. Methods that
// write to the file system where the request says (torrent-add, session-set's download
// folder, removing with data) are left out: the fuzzer must not create folders anywhere.
func FuzzTransmissionRPC(f *testing.F) {
	for _, s := range []string{
		`{"method":"session-get"}`,
		`{"method":"session-get","arguments":{"fields":["version","units"]},"tag":3}`,
		`{"method":"torrent-get","arguments":{"fields":["id","name","percentDone","files","btt"],"ids":"recently-active"}}`,
		`{"method":"torrent-get","arguments":{"fields":["id"],"ids":[1,"abc",2.5]}}`,
		`{"method":"torrent-stop","arguments":{"ids":[1]}}`,
		`{"method":"torrent-set","arguments":{"ids":1,"seedRatioMode":1,"seedRatioLimit":-1,"btt":{"spending-rate":2}}}`,
		`{"method":"session-stats"}`,
		`{"method":"free-space","arguments":{"path":"/"}}`,
		`{"method":`,
		`[]`,
		`{"method":"x","arguments":null,"tag":"t"}`,
	} {
		f.Add([]byte(s))
	}
	d, err := daemon.Open(daemon.Config{Dir: f.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.Close() })
	srv := transmission.New(d, transmission.Config{})
	f.Fuzz(func(t *testing.T, body []byte) {
		var peek struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(body, &peek) == nil {
			switch peek.Method {
			case "torrent-add", "session-set", "torrent-remove":
				t.Skip()
			}
		}
		req := httptest.NewRequest("POST", "/transmission/rpc", bytes.NewReader(body))
		req.Header.Set(transmission.SessionIDHeader, srv.SessionID())
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code == http.StatusRequestEntityTooLarge {
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d for %q", rec.Code, body)
		}
		var out struct {
			Result    *string        `json:"result"`
			Arguments map[string]any `json:"arguments"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Result == nil || out.Arguments == nil {
			t.Fatalf("answer to %q is not a Transmission response: %v: %s", body, err, rec.Body.Bytes())
		}
	})
}
