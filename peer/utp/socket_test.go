package utp

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// The DHT shares the port: bencoded packets go to Unhandled, WriteTo sends from the
// same port, and uTP connections keep working beside them.
func TestSharedPortDemux(t *testing.T) {
	type pkt struct {
		b    []byte
		from string
	}
	got := make(chan pkt, 16)
	cfg := Config{Unhandled: func(b []byte, from net.Addr) {
		got <- pkt{append([]byte(nil), b...), from.String()}
	}}
	s := listen(t, cfg)
	dht, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dht.Close()

	tests := [][]byte{
		[]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"),
		[]byte("d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"),
		{0x41},                         // uTP-looking first byte but too short for a header
		bytes.Repeat([]byte{0x51}, 20), // version 1, type 5: not uTP
	}
	for _, b := range tests {
		if _, err := dht.WriteTo(b, s.Addr()); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			if !bytes.Equal(p.b, b) || p.from != dht.LocalAddr().String() {
				t.Errorf("Unhandled got %q from %s, want %q from %s", p.b, p.from, b, dht.LocalAddr())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Unhandled never saw %q", b)
		}
	}
	if _, err := s.WriteTo([]byte("d1:y1:re"), dht.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = dht.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := dht.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "d1:y1:re" || from.String() != s.Addr().String() {
		t.Fatalf("WriteTo: read %q from %v, %v", buf[:n], from, err)
	}
	other := listen(t, Config{})
	transfer(t, other, s, s.Addr().String(), randomData(9, 200_000), 30*time.Second)
	if st := s.Stats(); st.Unhandled != uint64(len(tests)) {
		t.Errorf("stats %+v, want %d unhandled", st, len(tests))
	}
}

// A storm of garbage (random bytes, and valid-looking uTP headers for connections that
// do not exist or with random fields for one that does) neither crashes the socket nor
// stops a transfer running through it.
func TestGarbageStorm(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				return
			}
			defer pc.Close()
			r := rand.New(rand.NewPCG(uint64(g), 3))
			buf := make([]byte, 2000)
			for i := 0; ctx.Err() == nil; i++ {
				n := r.IntN(len(buf))
				for j := range buf[:n] {
					buf[j] = byte(r.Uint32())
				}
				if i%2 == 0 && n >= HeaderSize {
					buf[0] = byte(r.IntN(5))<<4 | Version // a valid type and version
					if i%4 == 0 {
						buf[1] = ExtSelectiveAck
					}
				}
				_, _ = pc.WriteTo(buf[:n], b.Addr())
				if i%64 == 0 {
					time.Sleep(time.Millisecond) // leave the real flow some CPU
				}
			}
		}()
	}
	transfer(t, a, b, b.Addr().String(), randomData(11, 4<<20), 60*time.Second)
	st := b.Stats()
	t.Logf("storm socket stats: %+v", st)
	if st.Malformed == 0 || st.Unknown == 0 || st.Unhandled == 0 {
		t.Errorf("the storm did not exercise every path: %+v", st)
	}
}

// Spoofed packets aimed at a live connection (right id, random sequence and ack
// numbers, random selective acks) must not break it.
func TestForgedPacketsOnLiveConn(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	done := make(chan []byte, 1)
	go func() {
		c, err := b.Accept()
		if err != nil {
			done <- nil
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		d, _ := io.ReadAll(c)
		done <- d
	}()
	c := dial(t, a, b.Addr().String())
	defer c.Close()
	cc := c.(*Conn)
	// Forge from the client's own address: open a second socket is impossible, so
	// inject straight into the connection as the reader would.
	r := rand.New(rand.NewPCG(7, 7))
	data := randomData(7, 2<<20)
	go func() {
		_, _ = c.Write(data)
		_ = cc.CloseWrite()
	}()
	var h Header
	for range 20000 {
		h = Header{Type: Type(r.IntN(3)), ConnID: cc.recvID, Seq: uint16(r.Uint32()), Ack: uint16(r.Uint32()),
			WindowSize: r.Uint32(), Timestamp: r.Uint32(), TimestampDiff: r.Uint32()}
		if r.IntN(2) == 0 {
			h.Extensions = []Extension{{Type: ExtSelectiveAck, Data: []byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}}}
		}
		if h.Type == TypeFin {
			h.Type = TypeState // a forged FIN would legitimately end the stream
		}
		// Forged acks for data never sent are ignored; forged acks inside the window
		// would be believed by any uTP implementation (there is no authentication), so
		// keep them outside it.
		cc.mu.Lock()
		if cc.nsent > 0 {
			h.Ack = cc.q[0].seq - 100 - uint16(r.IntN(30000))
		}
		cc.mu.Unlock()
		cc.handle(&h, nil, time.Now(), false)
	}
	select {
	case got := <-done:
		if !bytes.Equal(got, data) {
			t.Fatalf("received %d bytes, want %d intact", len(got), len(data))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("transfer stalled")
	}
}
