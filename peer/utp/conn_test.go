package utp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

func listen(t testing.TB, cfg Config) *Socket {
	t.Helper()
	s, err := Listen("udp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t testing.TB, s *Socket, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.DialContext(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// transfer sends data from a dialled connection to an accepted one, and a short reply
// back, and checks both arrive intact and end in io.EOF. The server takes the first
// connection from the client's address, or from via if it is set (a relay).
func transfer(t *testing.T, client, server *Socket, dialAddr string, data []byte, timeout time.Duration, via ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	type result struct {
		sum  [32]byte
		n    int
		err  error
		echo []byte
	}
	done := make(chan result, 1)
	from := client.Addr().String()
	if len(via) > 0 {
		from = via[0]
	}
	go func() {
		// Take the client's connection; anything else in the backlog (the garbage
		// storm's SYNs) is closed.
		var c net.Conn
		for c == nil {
			a, err := server.Accept()
			if err != nil {
				done <- result{err: err}
				return
			}
			if a.RemoteAddr().String() == from {
				c = a
			} else {
				a.Close()
			}
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err == nil {
			_, err = c.Write([]byte("thanks"))
		}
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = int(n), err
		done <- r
	}()
	c, err := client.DialContext(ctx, dialAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = c.(*Conn).CloseWrite()
	reply, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("server: %v", r.err)
	}
	if r.n != len(data) || r.sum != sha256.Sum256(data) {
		t.Fatalf("server got %d bytes (sum %x), want %d (sum %x)", r.n, r.sum[:4], len(data), sha256.Sum256(data))
	}
	if string(reply) != "thanks" {
		t.Fatalf("reply %q", reply)
	}
}

func TestTransferLoopback(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	for _, n := range []int{0, 1, 1399, 1400, 1401, 100_000, 8 << 20} {
		transfer(t, a, b, b.Addr().String(), randomData(uint64(n), n), 30*time.Second)
	}
}

func TestTransferImpaired(t *testing.T) {
	tests := []struct {
		name string
		imp  impairment
		size int
	}{
		{"loss 1%", impairment{seed: 1, loss: 0.01, dup: 0.01, reorder: 0.02, holdFor: 5 * time.Millisecond}, 4 << 20},
		{"loss 5%", impairment{seed: 5, loss: 0.05, dup: 0.01, reorder: 0.05, holdFor: 5 * time.Millisecond}, 2 << 20},
		{"loss 10%", impairment{seed: 10, loss: 0.10, dup: 0.02, reorder: 0.05, holdFor: 10 * time.Millisecond}, 1 << 20},
		{"reorder 30% dup 10%", impairment{seed: 30, dup: 0.10, reorder: 0.30, holdFor: 3 * time.Millisecond}, 2 << 20},
	}
	// Through the loopback relay the sockets negotiate big packets (Config.LocalPacketSize);
	// with it off they use 1400-byte ones, as to any other peer.
	for _, size := range []struct {
		name string
		cfg  Config
	}{{"big", Config{}}, {"1400", Config{LocalPacketSize: -1}}} {
		for _, tt := range tests {
			t.Run(size.name+"/"+tt.name, func(t *testing.T) {
				a, b := listen(t, size.cfg), listen(t, size.cfg)
				r := newRelay(t, b.Addr(), tt.imp)
				transfer(t, a, b, r.Addr(), randomData(tt.imp.seed, tt.size), 90*time.Second, r.back.LocalAddr().String())
				r.mu.Lock()
				t.Logf("relay forwarded %d, dropped %d", r.forwarded, r.dropped)
				r.mu.Unlock()
			})
		}
	}
}

func TestEcho(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	go func() {
		c, err := b.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c := dial(t, a, b.Addr().String())
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 100)
	for i := range 200 {
		msg := bytes.Repeat([]byte{byte(i)}, i%100+1)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:len(msg)], msg) {
			t.Fatalf("echo %d mismatch", i)
		}
	}
}

func TestDeadlines(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{WriteBuffer: 1 << 16, ReadBuffer: 1 << 16})
	c := dial(t, a, b.Addr().String())
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v, want deadline exceeded", err)
	}
	var ne net.Error
	if _, err := c.Read(make([]byte, 10)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read = %v, want a timeout net.Error", err)
	}
	_ = c.SetReadDeadline(time.Time{})

	// Nobody reads on the other side: the peer's window and our send buffer fill, and
	// Write must give up at the deadline.
	s, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := s.Write(make([]byte, 4<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n >= 4<<20 {
		t.Fatalf("Write = %d, %v; want a partial write and deadline exceeded", n, err)
	}
}

func TestResetOnSocketClose(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	c := dial(t, a, b.Addr().String())
	s, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrReset) {
		t.Fatalf("Read after peer socket closed = %v, want ErrReset", err)
	}
	if _, err := s.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read on a closed socket's conn succeeded")
	}
	if _, err := b.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v", err)
	}
}

func TestDialTimeout(t *testing.T) {
	a := listen(t, Config{})
	// A UDP socket that never answers.
	mute, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := a.DialContext(ctx, mute.LocalAddr().String()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialContext = %v, want deadline exceeded", err)
	}
	a.mu.Lock()
	n := len(a.conns)
	a.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d connections left after a failed dial", n)
	}
}

func TestManyConnections(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range n {
			c, err := b.Accept()
			if err != nil {
				errs <- err
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := a.Dial(b.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			data := randomData(uint64(i), 50_000)
			go func() { _, _ = c.Write(data); _ = c.(*Conn).CloseWrite() }()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, data) {
				errs <- errors.New("echo mismatch")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestIPv6AndDualStack(t *testing.T) {
	v6, err := Listen("udp6", "[::1]:0", Config{})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer v6.Close()
	other, err := Listen("udp6", "[::1]:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	transfer(t, other, v6, v6.Addr().String(), randomData(6, 300_000), 30*time.Second)

	// A dual-stack socket reached over IPv4 sees v4-mapped sources; connections must
	// still match their packets and replies must reach the IPv4 peer.
	dual, err := Listen("udp", "[::]:0", Config{})
	if err != nil {
		t.Skipf("no dual-stack socket: %v", err)
	}
	defer dual.Close()
	v4 := listen(t, Config{})
	port := dual.Addr().(*net.UDPAddr).Port
	transfer(t, v4, dual, net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), randomData(4, 300_000), 30*time.Second)
}

// A reader that stops for a while lets the window close; the sender must wait (probing)
// and resume when the reader drains it, without losing or duplicating bytes.
func TestSlowReaderWindow(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{ReadBuffer: 32 << 10})
	data := randomData(3, 1<<20)
	go func() {
		c, err := a.Dial(b.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(data)
		_ = c.(*Conn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	}()
	s, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(60 * time.Second))
	var got []byte
	buf := make([]byte, 5000)
	for i := 0; ; i++ {
		if i%40 == 0 {
			time.Sleep(150 * time.Millisecond) // the window closes while we sleep
		}
		n, err := s.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d intact", len(got), len(data))
	}
}

// Keep-alives hold an idle connection open past the idle timeout; when the path dies,
// the idle timeout ends the connection with ErrTimedOut.
func TestKeepAliveAndIdleTimeout(t *testing.T) {
	cfg := Config{KeepAlive: 50 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}
	a, b := listen(t, cfg), listen(t, cfg)
	r := newRelay(t, b.Addr(), impairment{seed: 1})
	c := dial(t, a, r.Addr())
	defer c.Close()
	s, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	time.Sleep(time.Second) // idle for more than twice the idle timeout
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatalf("write after idle: %v", err)
	}
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatalf("read after idle: %v", err)
	}

	r.mu.Lock()
	r.imp.loss = 1 // the path dies
	r.mu.Unlock()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	_, err = c.Read(buf)
	if !errors.Is(err, ErrTimedOut) {
		t.Fatalf("Read on a dead path = %v, want ErrTimedOut", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("ErrTimedOut is not a timeout net.Error")
	}
	t.Logf("dead path detected after %v", time.Since(start))
}

// Sequence numbers wrap at 2^16 in both directions mid-transfer, with loss and
// reordering so that acks, selective acks and out-of-order buffering all straddle it.
func TestSequenceWrap(t *testing.T) {
	// Packets of PacketSize: the 1 MiB below must be enough packets to cross the wrap.
	off := Config{LocalPacketSize: -1}
	a, b := listen(t, off), listen(t, off)
	r := newRelay(t, b.Addr(), impairment{seed: 99, loss: 0.03, reorder: 0.05, holdFor: 3 * time.Millisecond})
	c := dial(t, a, r.Addr())
	defer c.Close()
	s, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Both sides are idle (everything acked): move each sender's next sequence number
	// just below the wrap and the receiver's ack to match.
	cc, sc := c.(*Conn), s.(*Conn)
	time.Sleep(50 * time.Millisecond)
	cc.mu.Lock()
	sc.mu.Lock()
	if len(cc.q) != 0 || len(sc.q) != 0 {
		t.Fatal("connections not idle")
	}
	cc.seqNr, sc.ackNr = 65500, 65499
	sc.seqNr, cc.ackNr = 65530, 65529
	sc.mu.Unlock()
	cc.mu.Unlock()

	data := randomData(5, 1<<20) // ~750 packets: both directions cross 65535 -> 0
	errc := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		errc <- err
	}()
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []net.Conn{c, s} {
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		got := make([]byte, len(data))
		if _, err := io.ReadFull(conn, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("data corrupted across the wrap")
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if !seqLess(cc.seqNr, 1000) || cc.seqNr < 500 {
		t.Fatalf("client's sequence number %d did not wrap", cc.seqNr)
	}
}

// Empty DATA packets are legal (they take a sequence number) and must not upset the
// receive buffer, first or later in a stream.
func TestEmptyDataPacket(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	c := dial(t, a, b.Addr().String())
	defer c.Close()
	s, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cc := c.(*Conn)
	for _, msg := range []string{"", "x", "", "", "yz"} {
		cc.mu.Lock()
		p := cc.newPacket(TypeData)
		p.buf = append(p.buf, msg...)
		cc.queued += len(msg)
		cc.flush(time.Now())
		cc.mu.Unlock()
	}
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "xyz" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

// After both FINs a connection stays a retransmission timeout longer (to re-ack a
// retransmitted FIN), then leaves the socket's table.
func TestCloseTimeWait(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	c := dial(t, a, b.Addr().String())
	s, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}
	count := func(sock *Socket) int {
		sock.mu.Lock()
		defer sock.mu.Unlock()
		return len(sock.conns)
	}
	c.Close()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read after peer's Close = %v, want EOF", err)
	}
	s.Close()
	time.Sleep(100 * time.Millisecond)
	if count(a) != 1 {
		t.Fatalf("the closing side left its table at once (%d conns)", count(a))
	}
	deadline := time.Now().Add(5 * time.Second)
	for count(a)+count(b) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections still in the tables: %d, %d", count(a), count(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The send queue follows the windows: a peer that reads nothing (its window closed at
// 64 KiB) holds a writer to twice that window queued, not Config.WriteBuffer.
func TestSendQueueFollowsWindow(t *testing.T) {
	const window = 64 << 10
	a, b := listen(t, Config{}), listen(t, Config{ReadBuffer: window})
	c := dial(t, a, b.Addr().String())
	defer c.Close()
	s, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	n, err := c.Write(make([]byte, 4<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write = %d, %v; want deadline exceeded", n, err)
	}
	uc := c.(*Conn)
	uc.mu.Lock()
	queued, limit := uc.queued, uc.sendQueueLimit()
	uc.mu.Unlock()
	// queued may pass the current limit: the limit shrinks as the peer's window closes,
	// after the bytes were queued (by up to a 16 KiB packet's worth with big packets).
	if limit > 2*window || queued > 2*window {
		t.Errorf("queued %d bytes, limit %d; want at most %d", queued, limit, 2*window)
	}
	// What Write took is at most the peer's buffer (with the slack for a gap-filling
	// packet) plus our queue.
	if max := window + readSlack + 2*window; n > max {
		t.Errorf("Write took %d bytes; want at most %d", n, max)
	}
}

// In-order data is acked once per ackEvery packets (or after ackDelay), whether the
// packets come one read at a time or coalesced; out-of-order data at once.
func TestAckEvery(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	c := dial(t, a, b.Addr().String())
	defer c.Close()
	cc := c.(*Conn)
	payload := make([]byte, 1000)
	inject := func(n int, deferAck bool) (acks uint64) {
		cc.mu.Lock()
		seq, ack, sent0 := cc.ackNr+1, cc.seqNr-1, cc.stats.Sent
		cc.mu.Unlock()
		for i := range n {
			h := Header{Type: TypeData, ConnID: cc.recvID, Seq: seq + uint16(i), Ack: ack, WindowSize: 1 << 20}
			cc.handle(&h, payload, time.Now(), deferAck)
			if deferAck {
				cc.flushAck() // as the reader does after each coalesced read (here of one packet)
			}
		}
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return cc.stats.Sent - sent0
	}
	// 64 packets: 64/ackEvery acks, plus one for each ackDelay the loop took (a loaded
	// machine); one ack every two packets would be 32.
	for _, deferAck := range []bool{false, true} {
		if acks := inject(64, deferAck); acks > 64/ackEvery+8 {
			t.Errorf("deferAck %v: %d acks for 64 in-order packets; want about %d", deferAck, acks, 64/ackEvery)
		}
	}
	// A packet past a gap is acked at once (with a selective ack), so the sender learns of
	// the loss.
	cc.mu.Lock()
	seq, ack, sent0 := cc.ackNr+2, cc.seqNr-1, cc.stats.Sent
	cc.mu.Unlock()
	h := Header{Type: TypeData, ConnID: cc.recvID, Seq: seq, Ack: ack, WindowSize: 1 << 20}
	cc.handle(&h, payload, time.Now(), false)
	cc.mu.Lock()
	acks := cc.stats.Sent - sent0
	cc.mu.Unlock()
	if acks != 1 {
		t.Errorf("%d acks for an out-of-order packet, want 1 at once", acks)
	}
}
