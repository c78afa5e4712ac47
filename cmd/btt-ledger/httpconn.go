package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// httpConn is the load generator's HTTP/1.1 client: one keep-alive connection sending one
// request at a time, each written whole in one write (the bytes are prepared before the
// run) and its response read through one buffered reader, on the caller's goroutine.
// net/http's client costs about twice the CPU per request (a reader and a writer goroutine
// per connection, a timer per request, header maps both ways), and the generator shares the
// two cores with the server it measures. The requests are ordinary HTTP/1.1 that the server
// parses as it parses any client's; the responses are read with http.ReadResponse.
type httpConn struct {
	addr    string
	timeout time.Duration
	c       net.Conn
	r       *bufio.Reader
}

// hostPort returns the host:port a plain-HTTP ledger URL names.
func hostPort(ledgerURL string) (string, error) {
	u, err := url.Parse(ledgerURL)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" || u.Host == "" {
		return "", fmt.Errorf("bench: want an http://HOST:PORT ledger URL, got %q", ledgerURL)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "80"), nil
	}
	return u.Host, nil
}

// postRequest returns the bytes of a POST of a JSON body to path on host.
func postRequest(host, path string, body []byte) []byte {
	b := make([]byte, 0, len(path)+len(host)+len(body)+96)
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// do sends req (a whole request from postRequest) and returns the response's status and
// body. A request that failed on a connection the server had closed is sent again once on a
// new connection (every request the generator sends is signed with a nonce: applying it
// twice is impossible).
func (h *httpConn) do(req []byte) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		reused := h.c != nil
		status, resp, err := h.try(req)
		if err == nil || !reused || attempt > 0 {
			return status, resp, err
		}
	}
}

func (h *httpConn) try(req []byte) (int, []byte, error) {
	if h.c == nil {
		c, err := net.DialTimeout("tcp", h.addr, h.timeout)
		if err != nil {
			return 0, nil, err
		}
		h.c = c
		if h.r == nil {
			h.r = bufio.NewReaderSize(c, 16<<10)
		} else {
			h.r.Reset(c)
		}
	}
	h.c.SetDeadline(time.Now().Add(h.timeout))
	status, body, err := h.roundTrip(req)
	if err != nil {
		h.close()
	}
	return status, body, err
}

func (h *httpConn) roundTrip(req []byte) (int, []byte, error) {
	if _, err := h.c.Write(req); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(h.r, nil)
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, err
	}
	if resp.Close {
		h.close()
	}
	return resp.StatusCode, body, nil
}

func (h *httpConn) close() {
	if h.c != nil {
		h.c.Close()
		h.c = nil
	}
}
