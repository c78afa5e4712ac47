package utp

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// synFlood sends n SYNs with distinct connection ids from pc to addr and returns how many
// datagrams came back within wait.
func synFlood(t *testing.T, pc net.PacketConn, addr net.Addr, n int, wait time.Duration) int {
	t.Helper()
	got := make(chan int)
	go func() {
		buf := make([]byte, 2048)
		k := 0
		for {
			pc.SetReadDeadline(time.Now().Add(wait))
			if _, _, err := pc.ReadFrom(buf); err != nil {
				got <- k
				return
			}
			k++
		}
	}()
	var b [HeaderSize]byte
	for i := range n {
		putHeader(b[:], TypeSyn, 0, uint16(i*7), 0, 0, 1<<20, uint16(i), 0)
		if _, err := pc.WriteTo(b[:], addr); err != nil {
			t.Fatal(err)
		}
		if i%256 == 255 {
			time.Sleep(time.Millisecond) // let the reader keep up: the test is about state, not drops
		}
	}
	return <-got
}

// TestSYNFloodBounded (issue 12): 20,000 SYNs from one port used to make as many
// connections, all alive long after, with ~3.9 packets sent back per SYN. Now a source
// holds at most MaxHalfOpenPerIP half-open connections, all sources together MaxHalfOpen
// (a new SYN evicts the oldest, silently), a SYN earns at most one answer, and unverified
// connections die silently after HalfOpenTimeout; a real dialler from another address
// connects after the flood.
func TestSYNFloodBounded(t *testing.T) {
	cfg := Config{MaxHalfOpen: 12, MaxHalfOpenPerIP: 5, HalfOpenTimeout: 3 * time.Second}
	server := listen(t, cfg)
	accepted := make(chan net.Conn, 1<<15)
	go func() {
		for {
			c, err := server.Accept()
			if err != nil {
				return
			}
			accepted <- c // held, as a session waiting for the handshake holds it
		}
	}()
	var floods []net.PacketConn
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		pc, err := net.ListenPacket("udp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		floods = append(floods, pc)
	}
	answers := synFlood(t, floods[0], server.Addr(), 20000, 300*time.Millisecond)
	if answers > 20000 {
		t.Errorf("one source got %d answers to 20000 SYNs, want at most one each", answers)
	}
	for _, pc := range floods[1:] {
		synFlood(t, pc, server.Addr(), 2000, 100*time.Millisecond)
	}
	st := server.Stats()
	server.mu.Lock()
	live := len(server.conns)
	server.mu.Unlock()
	if st.HalfOpen > cfg.MaxHalfOpen || live > cfg.MaxHalfOpen {
		t.Errorf("%d half-open, %d connections; want at most %d", st.HalfOpen, live, cfg.MaxHalfOpen)
	}
	t.Logf("after 24,000 SYNs from 3 addresses: %d half-open, %d connections, %d accepted, %d refused or evicted, %d answers to the 20,000 SYNs of the first source",
		st.HalfOpen, live, len(accepted), st.Refused, answers)

	// A real dialler (another address) gets through once the half-open ones expired, and
	// its connection is verified by its first packet.
	client, err := Listen("udp", "127.0.0.5:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, server.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	var sc net.Conn
	for sc == nil {
		select {
		case a := <-accepted:
			if a.RemoteAddr().String() == c.LocalAddr().String() {
				sc = a
			}
		case <-ctx.Done():
			t.Fatal("the real dialler's connection was never accepted")
		}
	}
	buf := make([]byte, 5)
	sc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(sc, buf); err != nil || !bytes.Equal(buf, []byte("hello")) {
		t.Fatalf("read %q, %v", buf, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		server.mu.Lock()
		n, half := len(server.conns), server.half.total
		server.mu.Unlock()
		if n == 1 && half == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections (%d half-open) left after the timeout; want only the real one", n, half)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestResetFromOtherAddress: a RESET carrying a live connection's id but sent from
// another address (a different port of the same host) is ignored; the connection keeps
// working.
func TestResetFromOtherAddress(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := b.Accept()
		if err == nil {
			acc <- c
		}
	}()
	c := dial(t, a, b.Addr().String())
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	sc := <-acc
	defer sc.Close()
	sc.SetDeadline(time.Now().Add(10 * time.Second))
	one := make([]byte, 1)
	if _, err := io.ReadFull(sc, one); err != nil {
		t.Fatal(err)
	}
	cc, scc := c.(*Conn), sc.(*Conn)
	attacker, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	cc.mu.Lock()
	cseq := cc.seqNr
	cc.mu.Unlock()
	scc.mu.Lock()
	sseq := scc.seqNr
	scc.mu.Unlock()
	var pkt [HeaderSize]byte
	for _, target := range []struct {
		id uint16
		to net.Addr
	}{{scc.recvID, b.Addr()}, {cc.recvID, a.Addr()}} {
		for ack := range 512 { // every ack near anything either side sent
			putHeader(pkt[:], TypeReset, 0, target.id, 0, 0, 0, 0, cseq-256+uint16(ack))
			attacker.WriteTo(pkt[:], target.to)
			putHeader(pkt[:], TypeReset, 0, target.id, 0, 0, 0, 0, sseq-256+uint16(ack))
			attacker.WriteTo(pkt[:], target.to)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := c.Write([]byte("y")); err != nil {
		t.Fatalf("write after forged resets: %v", err)
	}
	if _, err := io.ReadFull(sc, one); err != nil || one[0] != 'y' {
		t.Fatalf("read after forged resets: %q, %v", one, err)
	}
}

// TestResetNeedsRecentAck: a RESET from the peer's own address (as a forger of that
// address would send it) is ignored unless it acks a sequence number we sent recently;
// a real one is obeyed.
func TestResetNeedsRecentAck(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	go func() {
		if c, err := b.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	c := dial(t, a, b.Addr().String())
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	cc := c.(*Conn)
	cc.mu.Lock()
	next := cc.seqNr
	cc.mu.Unlock()
	for _, off := range []uint16{resetWindow + 1, 5000, 30000, 65535 - 10} {
		h := Header{Type: TypeReset, ConnID: cc.recvID, Ack: next - off}
		cc.handle(&h, nil, time.Now(), false)
	}
	if _, err := c.Write([]byte("y")); err != nil {
		t.Fatalf("a RESET acking nothing recent closed the connection: %v", err)
	}
	h := Header{Type: TypeReset, ConnID: cc.recvID, Ack: next - 1}
	cc.handle(&h, nil, time.Now(), false)
	select {
	case <-cc.dead:
	default:
		t.Fatal("a RESET acking our last packet was ignored")
	}
}
