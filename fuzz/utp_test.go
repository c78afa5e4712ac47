package fuzz

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/peer/utp"
)

// utpSeeds are libtorrent's uTP packets from the reference vectors, plus a selective ack.
func utpSeeds(f *testing.F) [][]byte {
	dir := filepath.Join(testutil.SharedDir(f), "vectors", "utp", "libtorrent-2.0.8")
	var seeds [][]byte
	for _, name := range []string{"syn.bin", "state-syn-ack.bin", "data-first.bin", "state.bin", "data-small.bin", "data-full.bin", "fin-ext3.bin", "state-ext3.bin"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	h := utp.Header{Type: utp.TypeState, ConnID: 9, Seq: 1, Ack: 65535,
		Extensions: []utp.Extension{{Type: utp.ExtSelectiveAck, Data: []byte{0xff, 0x01, 0, 0x80}}, {Type: 3, Data: []byte{0, 0, 0, 6}}}}
	b, err := h.Append(nil)
	if err != nil {
		f.Fatal(err)
	}
	return append(seeds, b)
}

// FuzzUTPHeader decodes a uTP packet, re-encodes its header and extensions, and checks
// the bytes come back unchanged and decode to the same header.
func FuzzUTPHeader(f *testing.F) {
	for _, s := range utpSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var h utp.Header
		payload, err := h.Decode(in)
		if err != nil {
			if !errors.Is(err, utp.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !utp.IsPacket(in) {
			t.Fatal("decoded a packet IsPacket rejects")
		}
		enc, err := h.Append(nil)
		if err != nil {
			t.Fatalf("cannot re-encode %+v: %v", h, err)
		}
		if len(enc) != h.EncodedLen() || !bytes.Equal(enc, in[:len(in)-len(payload)]) {
			t.Fatalf("re-encoded header\n got %x\nwant %x", enc, in[:len(in)-len(payload)])
		}
		var h2 utp.Header
		p2, err := h2.Decode(append(enc, payload...))
		if err != nil || !bytes.Equal(p2, payload) || h2.Seq != h.Seq || h2.Ack != h.Ack || h2.Type != h.Type ||
			h2.ConnID != h.ConnID || h2.WindowSize != h.WindowSize || len(h2.Extensions) != len(h.Extensions) {
			t.Fatalf("round trip changed the packet: %+v vs %+v (%v)", h, h2, err)
		}
		// Any non-empty mask is valid: BEP 29 says multiples of 4 bytes, but libtorrent sends
		// (span+7)/8 bytes, and refusing those stalled transfers against it.
		if sack := h.SelectiveAck(); sack != nil && len(sack) == 0 {
			t.Fatalf("empty selective ack accepted")
		}
	})
}

// pipeConn is one end of an in-memory datagram link, so the fuzzer can put arbitrary
// packets in front of a live connection as if its peer had sent them.
type pipeConn struct {
	local, remote *net.UDPAddr
	in            chan []byte
	peer          *pipeConn
	done          chan struct{}
	once          sync.Once
	sendID        atomic.Uint32 // connection id of the last non-SYN uTP packet written
}

func pipePair() (*pipeConn, *pipeConn) {
	a := &pipeConn{local: &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}, in: make(chan []byte, 1024), done: make(chan struct{})}
	b := &pipeConn{local: &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 2}, in: make(chan []byte, 1024), done: make(chan struct{})}
	a.peer, b.peer, a.remote, b.remote = b, a, b.local, a.local
	return a, b
}

func (p *pipeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case pkt := <-p.in:
		return copy(b, pkt), p.remote, nil
	case <-p.done:
		return 0, nil, net.ErrClosed
	}
}

func (p *pipeConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	if utp.IsPacket(b) && utp.Type(b[0]>>4) != utp.TypeSyn {
		p.sendID.Store(uint32(b[2])<<8 | uint32(b[3]))
	}
	select {
	case p.peer.in <- append([]byte(nil), b...):
	default: // a full link drops, like UDP
	}
	return len(b), nil
}

func (p *pipeConn) Close() error                     { p.once.Do(func() { close(p.done) }); return nil }
func (p *pipeConn) LocalAddr() net.Addr              { return p.local }
func (p *pipeConn) SetDeadline(time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzUTPConn opens a connection between two sockets over an in-memory link, then
// injects the fuzzer's packets (split on 0xff 0xfe, each given the connection's id) as
// if the peer had sent them. Nothing may panic, race or hang: reads end by deadline,
// and both sockets close promptly.
func FuzzUTPConn(f *testing.F) {
	for _, s := range utpSeeds(f) {
		f.Add(s)
	}
	f.Add(bytes.Join(utpSeeds(f), []byte{0xff, 0xfe}))
	f.Fuzz(func(t *testing.T, in []byte) {
		pa, pb := pipePair()
		a, err := utp.NewSocket(pa, utp.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := utp.NewSocket(pb, utp.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := b.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		c, err := a.DialContext(ctx, pb.local.String())
		if err != nil {
			t.Fatal(err)
		}
		var s net.Conn
		select {
		case s = <-accepted:
		case <-ctx.Done():
			t.Fatal("no accept")
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		var h utp.Header
		_ = s.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 5)
		if _, err := s.Read(buf); err != nil {
			t.Fatal(err)
		}
		// b's connection takes packets with the id a sends with: forge them from "a".
		id := uint16(pa.sendID.Load())
		for _, pkt := range bytes.Split(in, []byte{0xff, 0xfe}) {
			if _, err := h.Decode(pkt); err == nil && len(pkt) >= 4 {
				pkt = append([]byte(nil), pkt...)
				pkt[2], pkt[3] = byte(id>>8), byte(id)
			}
			select {
			case pb.in <- pkt:
			case <-ctx.Done():
				t.Fatal("link stalled")
			}
		}
		_ = s.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
		_, _ = s.Read(make([]byte, 1<<16))
		_, _ = s.Write([]byte("bye"))
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
		_, _ = c.Read(make([]byte, 16))
		s.Close()
		c.Close()
	})
}
