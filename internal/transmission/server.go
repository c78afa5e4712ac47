// Package transmission serves Transmission's RPC (JSON over HTTP at /transmission/rpc,
// protocol version 16 as in Transmission 3.00) over a daemon.Daemon, so transmission-remote
// and Transmission's web client drive btt. It also serves the web client's files from a
// directory at /transmission/web/ and the daemon's metrics at /metrics.
//
// HTTP rules, as Transmission has them: a wrong or missing user and password get 401 with a
// Basic challenge; a request to the RPC without the current X-Transmission-Session-Id header
// gets 409 with the header to use (the CSRF guard); a body that is not a JSON request gets
// the result "no method name", an unknown method "method name not recognized". Bodies are
// bounded (MaxBody) and answered 413 beyond it.
//
// btt's own settings ride in a "btt" object inside the arguments of session-get/session-set
// and torrent-get/torrent-set (Speed on or off, budget, spending rate, reserve; seeding-time
// limits), which Transmission's clients never send and ignore when they receive it.
package transmission

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/speedbt/btt/internal/daemon"
	"github.com/speedbt/btt/internal/metrics"
)

// MaxBody bounds an RPC request body: a torrent-add carries a .torrent in base64, and
// metainfo of even very large torrents stays under 10 MiB (wire/metainfo's own limit).
const MaxBody = 16 << 20

// SessionIDHeader is Transmission's CSRF header.
const SessionIDHeader = "X-Transmission-Session-Id"

// Config configures a Server.
type Config struct {
	// User and Password, when User is set, are required (HTTP Basic) on every path.
	User, Password string
	// WebUI is a directory served at /transmission/web/; empty serves none.
	WebUI string
	// Logger receives refused requests and failed methods; nil discards them.
	Logger *slog.Logger
}

// Server is the HTTP face of a daemon. It is an http.Handler.
type Server struct {
	d         *daemon.Daemon
	cfg       Config
	log       *slog.Logger
	sessionID string
	mux       *http.ServeMux

	requests atomic.Int64 // RPC requests answered, by any result
	refused  atomic.Int64 // 401, 409, 413 and bad requests
}

// New returns a server for d.
func New(d *daemon.Daemon, cfg Config) *Server {
	var b [24]byte
	rand.Read(b[:])
	s := &Server{d: d, cfg: cfg, log: cfg.Logger, sessionID: base64.RawURLEncoding.EncodeToString(b[:])}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/transmission/rpc", s.serveRPC)
	s.mux.HandleFunc("/transmission/rpc/", s.serveRPC) // transmission-remote 3.00 posts here
	s.mux.HandleFunc("GET /metrics", s.serveMetrics)
	if cfg.WebUI != "" {
		s.mux.Handle("GET /transmission/web/", http.StripPrefix("/transmission/web/", http.FileServer(http.Dir(cfg.WebUI))))
		redirect := http.RedirectHandler("/transmission/web/", http.StatusFound)
		s.mux.Handle("GET /transmission/web", redirect)
		s.mux.Handle("GET /{$}", redirect)
	}
	return s
}

// SessionID is the current value of the CSRF header.
func (s *Server) SessionID() string { return s.sessionID }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.User != "" && !s.authorized(r) {
		s.refused.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="Transmission"`)
		http.Error(w, "401: Unauthorized. The user name or password is wrong.", http.StatusUnauthorized)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	// Compare both in constant time, and both always, so timing tells nothing.
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(s.cfg.User))
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(s.cfg.Password))
	return uok&pok == 1
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	fams := s.d.Metrics()
	req := &metrics.Family{Name: "btt_rpc_requests_total", Help: "RPC requests answered with a JSON result.", Kind: metrics.Counter}
	req.Add(float64(s.requests.Load()))
	ref := &metrics.Family{Name: "btt_rpc_refused_total", Help: "RPC requests refused (401, 409, 413, 405).", Kind: metrics.Counter}
	ref.Add(float64(s.refused.Load()))
	w.Header().Set("Content-Type", metrics.ContentType)
	metrics.Write(w, append(fams, req, ref))
}

// request is Transmission's RPC request.
type request struct {
	Method    string          `json:"method"`
	Arguments json.RawMessage `json:"arguments"`
	Tag       json.RawMessage `json:"tag"`
}

// response is its answer; Result is "success" or what went wrong.
type response struct {
	Result    string         `json:"result"`
	Arguments map[string]any `json:"arguments"`
	Tag       any            `json:"tag,omitempty"`
}

func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(SessionIDHeader) != s.sessionID {
		s.refused.Add(1)
		w.Header().Set(SessionIDHeader, s.sessionID)
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "<h1>409: Conflict</h1><p>The request had no valid session id. Send it again with the header</p><p><code>%s: %s</code></p>", SessionIDHeader, s.sessionID)
		return
	}
	if r.Method != http.MethodPost {
		s.refused.Add(1)
		w.Header().Set("Allow", "POST")
		http.Error(w, "405: Method Not Allowed. The RPC takes POST.", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		s.refused.Add(1)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("413: Request Entity Too Large. At most %d bytes.", MaxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "400: Bad Request", http.StatusBadRequest)
		return
	}
	resp := s.exec(body)
	s.requests.Add(1)
	out, err := json.Marshal(resp)
	if err != nil { // a NaN slipped into a figure: say so rather than send nothing
		s.log.Error("transmission: encoding a response", "err", err)
		out, _ = json.Marshal(response{Result: "internal error: " + err.Error(), Arguments: map[string]any{}, Tag: resp.Tag})
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Write(out)
}

// exec runs one request. A body that does not parse, or names no method, is answered as
// Transmission answers it.
func (s *Server) exec(body []byte) response {
	var req request
	if err := json.Unmarshal(body, &req); err != nil || req.Method == "" {
		return response{Result: "no method name", Arguments: map[string]any{}}
	}
	resp := response{Arguments: map[string]any{}}
	var tag int64
	if json.Unmarshal(req.Tag, &tag) == nil {
		resp.Tag = tag
	}
	m, ok := methods[req.Method]
	if !ok {
		resp.Result = "method name not recognized"
		return resp
	}
	args := req.Arguments
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	res, err := m(s, args)
	if err != nil {
		s.log.Info("transmission: method failed", "method", req.Method, "err", err)
		resp.Result = err.Error()
		return resp
	}
	if res != nil {
		resp.Arguments = res
	}
	resp.Result = "success"
	return resp
}

// argError is an error in a method's arguments, worded for the RPC's result string.
func argError(format string, args ...any) error { return fmt.Errorf(format, args...) }

func lower(s string) string { return strings.ToLower(s) }
