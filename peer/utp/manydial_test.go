package utp

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestManyDiallersAtOnce (issue 16): 200 honest diallers, each from its own address, dial
// one listener at the same moment, as a swarm does when a seeder appears. More SYNs than
// MaxHalfOpen arrive within one round trip, so the cap is full while honest handshakes
// are in flight; every dialler must still get a working connection.
func TestManyDiallersAtOnce(t *testing.T) {
	const n = 200
	server := listen(t, Config{})
	go func() {
		for {
			c, err := server.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				buf := make([]byte, 5)
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				c.Write(buf)
				io.Copy(io.Discard, c) // until the dialler closes
			}()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var ok atomic.Int32
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		client, err := Listen("udp", fmt.Sprintf("127.0.%d.%d:0", 4+i/250, 1+i%250), Config{SocketBuffer: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = echo(ctx, client, server.Addr().String())
			if errs[i] == nil {
				ok.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	st := server.Stats()
	t.Logf("%d of %d diallers connected; listener: %d SYNs refused or half-open connections evicted, %d evicted, %d revived, %d packets for no connection",
		ok.Load(), n, st.Refused, st.Evicted, st.Revived, st.Unknown)
	if int(ok.Load()) != n {
		for i, err := range errs {
			if err != nil {
				t.Errorf("dialler %d: %v", i, err)
				break
			}
		}
		t.Fatalf("%d of %d diallers connected", ok.Load(), n)
	}
}

// echo dials addr from s, sends five bytes and reads them back.
func echo(ctx context.Context, s *Socket, addr string) error {
	c, err := s.DialContext(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	if _, err := c.Write([]byte("hello")); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}
