package transmission

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/daemon"
	"github.com/speedbt/btt/internal/thirdparty"
)

// newTestServer runs a daemon on loopback behind the RPC, served over real HTTP.
func newTestServer(t testing.TB, cfg Config) (*daemon.Daemon, *Server, *httptest.Server) {
	t.Helper()
	d, err := daemon.Open(daemon.Config{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s := New(d, cfg)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		d.Close()
	})
	return d, s, hs
}

type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

func post(t testing.TB, url, sid, user, pass string, body []byte) rawResponse {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/transmission/rpc", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if sid != "" {
		req.Header.Set(SessionIDHeader, sid)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, resp.Header, b}
}

// call posts a request with the right session id and decodes the answer.
func call(t testing.TB, s *Server, url, method string, args any) (string, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"method": method, "arguments": args, "tag": 7})
	r := post(t, url, s.SessionID(), "", "", body)
	if r.status != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", method, r.status, r.body)
	}
	var out struct {
		Result    string         `json:"result"`
		Arguments map[string]any `json:"arguments"`
		Tag       int            `json:"tag"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("%s: %v: %s", method, err, r.body)
	}
	if out.Tag != 7 {
		t.Errorf("%s: tag %d, want 7 echoed", method, out.Tag)
	}
	return out.Result, out.Arguments
}

// TestBadInput: every malformed request gets Transmission's answer and the server goes on.
func TestBadInput(t *testing.T) {
	_, s, hs := newTestServer(t, Config{})
	sid := s.SessionID()
	tests := []struct {
		name       string
		sid        string
		body       []byte
		wantStatus int
		wantResult string
	}{
		{"no session id", "", []byte(`{"method":"session-get"}`), http.StatusConflict, ""},
		{"wrong session id", "nope", []byte(`{"method":"session-get"}`), http.StatusConflict, ""},
		{"not JSON", sid, []byte(`{"method":`), http.StatusOK, "no method name"},
		{"JSON but not an object", sid, []byte(`[1,2,3]`), http.StatusOK, "no method name"},
		{"no method", sid, []byte(`{"arguments":{}}`), http.StatusOK, "no method name"},
		{"unknown method", sid, []byte(`{"method":"torrent-frobnicate"}`), http.StatusOK, "method name not recognized"},
		{"arguments of the wrong type", sid, []byte(`{"method":"torrent-get","arguments":{"fields":"name"}}`), http.StatusOK, "invalid argument"},
		{"ids of the wrong type", sid, []byte(`{"method":"torrent-stop","arguments":{"ids":[{"a":1}]}}`), http.StatusOK, "invalid ids"},
		{"bad base64", sid, []byte(`{"method":"torrent-add","arguments":{"metainfo":"!!!"}}`), http.StatusOK, "invalid or corrupt torrent file"},
		{"not a torrent", sid, []byte(`{"method":"torrent-add","arguments":{"metainfo":"` + base64.StdEncoding.EncodeToString([]byte("d4:spam4:eggse")) + `"}}`), http.StatusOK, "invalid or corrupt torrent file"},
		{"missing file", sid, []byte(`{"method":"torrent-add","arguments":{"filename":"/nonexistent/x.torrent"}}`), http.StatusOK, "invalid or corrupt torrent file"},
		{"a device, not a file", sid, []byte(`{"method":"torrent-add","arguments":{"filename":"/dev/zero"}}`), http.StatusOK, "invalid or corrupt torrent file"},
		{"bad magnet", sid, []byte(`{"method":"torrent-add","arguments":{"filename":"magnet:?xt=urn:btih:zz"}}`), http.StatusOK, "magnet: malformed info-hash"},
		{"add with nothing", sid, []byte(`{"method":"torrent-add","arguments":{}}`), http.StatusOK, "no filename or metainfo specified"},
		{"peer limit out of range", sid, []byte(`{"method":"session-set","arguments":{"peer-limit-global":0}}`), http.StatusOK, "peer limit out of range"},
		{"oversized body", sid, append([]byte(`{"method":"session-get","arguments":{"x":"`), bytes.Repeat([]byte("a"), MaxBody)...), http.StatusRequestEntityTooLarge, ""},
	}
	for _, tt := range tests {
		r := post(t, hs.URL, tt.sid, "", "", tt.body)
		if r.status != tt.wantStatus {
			t.Errorf("%s: HTTP %d, want %d", tt.name, r.status, tt.wantStatus)
			continue
		}
		if tt.wantStatus == http.StatusConflict && r.header.Get(SessionIDHeader) != sid {
			t.Errorf("%s: 409 carries session id %q, want %q", tt.name, r.header.Get(SessionIDHeader), sid)
		}
		if tt.wantResult == "" {
			continue
		}
		var out struct{ Result string }
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Errorf("%s: %v: %s", tt.name, err, r.body)
			continue
		}
		if !strings.HasPrefix(out.Result, tt.wantResult) {
			t.Errorf("%s: result %q, want it to start with %q", tt.name, out.Result, tt.wantResult)
		}
	}
	// Still serving.
	if res, _ := call(t, s, hs.URL, "session-get", nil); res != "success" {
		t.Errorf("session-get after bad input: %q", res)
	}
}

// TestAuth: with a user set, a wrong or missing password gets 401 and a Basic challenge,
// before the session-id check (as Transmission orders them); the right one passes.
func TestAuth(t *testing.T) {
	_, s, hs := newTestServer(t, Config{User: "alice", Password: "secret"})
	body := []byte(`{"method":"session-get"}`)
	for _, c := range []struct{ user, pass string }{{"", ""}, {"alice", "wrong"}, {"bob", "secret"}} {
		r := post(t, hs.URL, s.SessionID(), c.user, c.pass, body)
		if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s:%s: HTTP %d, challenge %q; want 401 with a Basic challenge", c.user, c.pass, r.status, r.header.Get("WWW-Authenticate"))
		}
	}
	if r := post(t, hs.URL, "", "alice", "secret", body); r.status != http.StatusConflict {
		t.Errorf("right password, no session id: HTTP %d, want 409", r.status)
	}
	if r := post(t, hs.URL, s.SessionID(), "alice", "secret", body); r.status != http.StatusOK {
		t.Errorf("right password and session id: HTTP %d", r.status)
	}
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without a password: HTTP %d, want 401", resp.StatusCode)
	}
}

// TestMethods runs the methods against a real daemon: add (duplicate too), get by id and
// hash, set limits, session get/set round trips, stats, free-space, port-test.
func TestMethods(t *testing.T) {
	d, s, hs := newTestServer(t, Config{})
	dir := t.TempDir()
	raw := thirdparty.CreateTorrent(t, dir, "one.bin", 100<<10, 16<<10)
	res, args := call(t, s, hs.URL, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(raw), "download-dir": dir})
	if res != "success" {
		t.Fatalf("torrent-add: %q", res)
	}
	added := args["torrent-added"].(map[string]any)
	hash := added["hashString"].(string)
	if added["id"].(float64) != 1 || added["name"] != "one.bin" {
		t.Errorf("torrent-added = %v", added)
	}
	if _, args := call(t, s, hs.URL, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(raw)}); args["torrent-duplicate"] == nil {
		t.Errorf("adding again: %v, want torrent-duplicate", args)
	}
	// The data is there: once checked, it seeds at 100%.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, args := call(t, s, hs.URL, "torrent-get", map[string]any{"ids": []any{hash}, "fields": []string{"id", "status", "percentDone", "uploadRatio", "files", "fileStats", "no-such-field"}})
		list := args["torrents"].([]any)
		if len(list) != 1 {
			t.Fatalf("torrent-get by hash: %v", args)
		}
		tor := list[0].(map[string]any)
		if _, ok := tor["no-such-field"]; ok {
			t.Error("an unknown field was answered")
		}
		if tor["status"].(float64) == float64(daemon.StatusSeed) {
			if tor["percentDone"].(float64) != 1 {
				t.Errorf("seeding at %v", tor["percentDone"])
			}
			files := tor["files"].([]any)
			if f := files[0].(map[string]any); f["name"] != "one.bin" || f["bytesCompleted"].(float64) != 100<<10 {
				t.Errorf("files = %v", files)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never seeding: %v", tor)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if res, _ := call(t, s, hs.URL, "torrent-set", map[string]any{"ids": 1, "seedRatioMode": 1, "seedRatioLimit": 3.5, "btt": map[string]any{"speed-off": true}}); res != "success" {
		t.Fatalf("torrent-set: %q", res)
	}
	_, args = call(t, s, hs.URL, "torrent-get", map[string]any{"ids": 1, "fields": []string{"seedRatioMode", "seedRatioLimit", "btt"}})
	tor := args["torrents"].([]any)[0].(map[string]any)
	if tor["seedRatioMode"].(float64) != 1 || tor["seedRatioLimit"].(float64) != 3.5 {
		t.Errorf("after torrent-set: %v", tor)
	}
	if sp := tor["btt"].(map[string]any)["speed"].(map[string]any); sp["off"] != true {
		t.Errorf("btt.speed after torrent-set: %v", sp)
	}

	set := map[string]any{
		"speed-limit-up": 250, "speed-limit-up-enabled": true, "peer-limit-global": 120, "peer-limit-per-torrent": 30,
		"seedRatioLimit": 1.5, "seedRatioLimited": true, "idle-seeding-limit": 45, "download-dir": dir,
		"btt":               map[string]any{"seed-time-limit": 90, "seed-time-limit-enabled": true},
		"alt-speed-enabled": true, // Transmission's, not ours: accepted and ignored
	}
	if res, _ := call(t, s, hs.URL, "session-set", set); res != "success" {
		t.Fatalf("session-set: %q", res)
	}
	_, got := call(t, s, hs.URL, "session-get", nil)
	for k, v := range set {
		if k == "btt" || k == "alt-speed-enabled" {
			continue
		}
		if b, _ := json.Marshal(got[k]); string(b) != mustJSON(v) {
			t.Errorf("session-get %s = %s, want %s", k, b, mustJSON(v))
		}
	}
	if b := got["btt"].(map[string]any); b["seed-time-limit"].(float64) != 90 || b["seed-time-limit-enabled"] != true {
		t.Errorf("session-get btt = %v", b)
	}
	if st := d.Settings(); st.SpeedLimitUp != 250_000 || st.PeerLimitGlobal != 120 {
		t.Errorf("daemon settings after session-set: %+v", st)
	}
	// The torrent ran through the session reopen the peer limits caused.
	if v := d.Torrents([]int{1}, false)[0]; v.Status == daemon.StatusStopped {
		t.Errorf("torrent stopped by the session reopen")
	}
	_, fields := call(t, s, hs.URL, "session-get", map[string]any{"fields": []string{"version", "rpc-version"}})
	if len(fields) != 2 || fields["rpc-version"].(float64) != rpcVersion {
		t.Errorf("session-get with fields: %v", fields)
	}

	_, st := call(t, s, hs.URL, "session-stats", nil)
	if st["torrentCount"].(float64) != 1 || st["cumulative-stats"].(map[string]any)["filesAdded"].(float64) != 1 {
		t.Errorf("session-stats = %v", st)
	}
	_, fsp := call(t, s, hs.URL, "free-space", map[string]any{"path": dir})
	if fsp["size-bytes"].(float64) <= 0 {
		t.Errorf("free-space = %v", fsp)
	}
	_, pt := call(t, s, hs.URL, "port-test", nil)
	if pt["port-is-open"] != true {
		t.Errorf("port-test = %v", pt)
	}
	if res, _ := call(t, s, hs.URL, "torrent-remove", map[string]any{"ids": []any{hash}}); res != "success" {
		t.Fatalf("torrent-remove: %q", res)
	}
	if _, args := call(t, s, hs.URL, "torrent-get", map[string]any{"fields": []string{"id"}}); len(args["torrents"].([]any)) != 0 {
		t.Errorf("after remove: %v", args)
	}
	if _, args := call(t, s, hs.URL, "torrent-get", map[string]any{"ids": "recently-active", "fields": []string{"id"}}); mustJSON(args["removed"]) != "[1]" {
		t.Errorf("recently-active after remove: removed = %v, want [1]", args["removed"])
	}
	if _, err := os.Stat(filepath.Join(dir, "one.bin")); err != nil {
		t.Errorf("remove without delete-local-data removed the data: %v", err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
