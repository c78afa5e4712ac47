package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTPConn sends the generator's requests to a net/http server answering with a length,
// chunked, with an error status and closing the connection: every answer reads back whole,
// on one connection until the server closes it.
func TestHTTPConn(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			w.Write(body)
		case "/big":
			w.Write(big[:100])
			w.(http.Flusher).Flush() // forces chunked encoding
			w.Write(big[100:])
		case "/err":
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":"rate_limited"}`))
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	host, err := hostPort(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	h := &httpConn{addr: host, timeout: 10 * time.Second}
	defer h.close()
	for _, c := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/echo", `{"x":1}`, 200, `{"x":1}`},
		{"/big", "", 200, string(big)},
		{"/err", "", 429, `{"error":"rate_limited"}`},
		{"/echo", strings.Repeat("y", 5000), 200, strings.Repeat("y", 5000)},
		{"/close", "", 200, "bye"},
		{"/echo", "again", 200, "again"},
	} {
		status, body, err := h.do(postRequest(host, c.path, []byte(c.body)))
		if err != nil || status != c.status || string(body) != c.want {
			t.Fatalf("%s: %d %.60q %v, want %d %.60q", c.path, status, body, err, c.status, c.want)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (one until the server closed it, one after)", n)
	}
}

// TestReadResponseRefuses: malformed answers are errors, never a panic or an endless read.
func TestReadResponseRefuses(t *testing.T) {
	for _, in := range []string{
		"", "HTTP/1.1 200 OK", "HTTP/1.1 2x0 OK\r\n\r\n", "SPDY/3 200 OK\r\n\r\n", "HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n",
		"HTTP/1.1 200 OK\r\n" + strings.Repeat("X: y\r\n", 100) + "\r\n",
		"HTTP/1.1 200 OK\r\n" + strings.Repeat("x", 20000) + "\r\n\r\n",
	} {
		if _, _, _, err := readResponse(bufio.NewReaderSize(strings.NewReader(in), 16<<10)); err == nil {
			t.Errorf("%.80q: accepted", in)
		}
	}
	status, body, closeConn, err := readResponse(bufio.NewReader(strings.NewReader("HTTP/1.0 200 OK\r\n\r\nuntil the end")))
	if err != nil || status != 200 || string(body) != "until the end" || !closeConn {
		t.Fatalf("HTTP/1.0 without a length: %d %q %v %v", status, body, closeConn, err)
	}
}
