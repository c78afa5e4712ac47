package mse

import (
	"crypto/rc4"
	"net"
)

// Handshake runs h over nc until it finishes and returns the connection that carries the
// payload stream. The caller bounds the time with nc's deadline; h bounds the bytes.
func Handshake(nc net.Conn, h *Handshaker) (net.Conn, *Result, error) {
	buf := make([]byte, 2048)
	for {
		out, done, err := h.Step()
		if len(out) > 0 && err == nil {
			if _, werr := nc.Write(out); werr != nil {
				return nil, nil, werr
			}
		}
		if err != nil {
			return nil, nil, err
		}
		if done {
			res := h.Result()
			return NewConn(nc, res), res, nil
		}
		n, rerr := nc.Read(buf[:min(len(buf), h.Room())])
		if n > 0 {
			if err := h.Recv(buf[:n]); err != nil {
				return nil, nil, err
			}
		}
		if rerr != nil && n == 0 {
			return nil, nil, rerr
		}
	}
}

// Conn is a connection after an MSE handshake: it first returns the bytes that arrived with
// the handshake, and encrypts and decrypts the payload stream when RC4 was agreed. One
// goroutine may read while another writes, as with any net.Conn; concurrent Writes are not
// allowed (the cipher state is the stream position).
type Conn struct {
	net.Conn
	rest     []byte
	enc, dec *rc4.Cipher
	wbuf     []byte
}

// writeChunk is the size of the scratch buffer Write encrypts into (callers' buffers are
// never modified): 64 KiB matches the peer writer's buffer, so one flush is one system call.
const writeChunk = 64 << 10

// NewConn wraps nc with the outcome of a handshake.
func NewConn(nc net.Conn, r *Result) net.Conn {
	if r.Method != RC4 && len(r.Rest) == 0 {
		return nc // plaintext and nothing buffered: the socket itself
	}
	return &Conn{Conn: nc, rest: r.Rest, enc: r.enc, dec: r.dec}
}

// NetConn returns the connection underneath (TCP or uTP), as tls.Conn.NetConn does.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Encrypted reports whether the payload stream is RC4.
func (c *Conn) Encrypted() bool { return c.enc != nil }

func (c *Conn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if c.dec != nil && n > 0 {
		c.dec.XORKeyStream(p[:n], p[:n])
	}
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	if c.enc == nil {
		return c.Conn.Write(p)
	}
	if c.wbuf == nil {
		c.wbuf = make([]byte, writeChunk)
	}
	var written int
	for len(p) > 0 {
		n := min(len(p), len(c.wbuf))
		c.enc.XORKeyStream(c.wbuf[:n], p[:n])
		m, err := c.Conn.Write(c.wbuf[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}
