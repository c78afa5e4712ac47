package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
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
// parses as it parses any client's; the responses are read by readResponse.
type httpConn struct {
	addr     string
	timeout  time.Duration
	c        net.Conn
	r        *bufio.Reader
	deadline time.Time // of c
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
		h.deadline = time.Time{}
	}
	// Moving the deadline costs a timer update: do it when half of the timeout has passed.
	if now := time.Now(); h.deadline.Sub(now) < h.timeout/2 {
		h.deadline = now.Add(h.timeout)
		h.c.SetDeadline(h.deadline)
	}
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
	status, body, closeConn, err := readResponse(h.r)
	if err != nil {
		return 0, nil, err
	}
	if closeConn {
		h.close()
	}
	return status, body, nil
}

// Bounds of a response the generator accepts: the ledger's largest answer (a batch of 256
// results) is far below them.
const (
	maxResponseBody    = 4 << 20
	maxResponseHeaders = 64
)

// readResponse reads one HTTP/1.x response: the status line, the headers (of which only
// Content-Length, Transfer-Encoding and Connection matter to a client that sends no
// conditional or ranged requests), and the body by its length, chunked, or up to the end of
// the connection. http.ReadResponse does the same with a header map, a textproto reader
// and a body reader per response, about a sixth of the generator's CPU per request.
func readResponse(r *bufio.Reader) (status int, body []byte, closeConn bool, err error) {
	line, err := readLine(r)
	if err != nil {
		return 0, nil, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, false, fmt.Errorf("bench: bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil || status < 200 {
		return 0, nil, false, fmt.Errorf("bench: bad status line %q", line)
	}
	closeConn = line[7] == '0' // HTTP/1.0 closes unless told otherwise; the ledger speaks 1.1
	length, chunked := -1, false
	for n := 0; ; n++ {
		if n == maxResponseHeaders {
			return 0, nil, false, errors.New("bench: too many response headers")
		}
		if line, err = readLine(r); err != nil {
			return 0, nil, false, err
		}
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("bench: bad header line %q", line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil || length < 0 || length > maxResponseBody {
				return 0, nil, false, fmt.Errorf("bench: bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(v, []byte("chunked")) {
				return 0, nil, false, fmt.Errorf("bench: unsupported Transfer-Encoding %q", v)
			}
			chunked = true
		case bytes.EqualFold(k, []byte("Connection")):
			closeConn = closeConn || bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case chunked:
		body, err = readChunked(r)
	case length >= 0:
		body = make([]byte, length)
		_, err = io.ReadFull(r, body)
	default: // the body ends with the connection
		body, err = io.ReadAll(io.LimitReader(r, maxResponseBody))
		closeConn = true
	}
	return status, body, closeConn, err
}

// readChunked reads a chunked body and its (ignored) trailer.
func readChunked(r *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		size, _, _ := bytes.Cut(line, []byte(";")) // chunk extensions are ignored
		n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 32)
		if err != nil || len(body)+int(n) > maxResponseBody {
			return nil, fmt.Errorf("bench: bad chunk size %q", line)
		}
		if n == 0 {
			for i := 0; ; i++ { // trailer lines up to the empty one
				if i == maxResponseHeaders {
					return nil, errors.New("bench: too many trailer lines")
				}
				if line, err = readLine(r); err != nil || len(line) == 0 {
					return body, err
				}
			}
		}
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(r, body[len(body)-int(n):]); err != nil {
			return nil, err
		}
		if line, err = readLine(r); err != nil || len(line) != 0 {
			return nil, fmt.Errorf("bench: chunk not followed by CRLF: %v", err)
		}
	}
}

// readLine returns one line without its CRLF (or LF); the bytes stay valid until the next
// read from r.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, nil
}

func (h *httpConn) close() {
	if h.c != nil {
		h.c.Close()
		h.c = nil
	}
}
