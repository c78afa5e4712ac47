package utp

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// heldBytes is how many bytes corking holds back on c.
func heldBytes(c net.Conn) int {
	uc := c.(*Conn)
	uc.mu.Lock()
	defer uc.mu.Unlock()
	return len(uc.gsoBuf)
}

// A corked writer's block waits for the next write or for SetCork(false), and then
// arrives intact; a Write that must wait for room sends what corking held, so a corked
// bulk transfer completes. Connections with 1400-byte packets never hold anything.
func TestCork(t *testing.T) {
	a, b := listen(t, Config{}), listen(t, Config{})
	c := dial(t, a, b.Addr().String())
	defer c.Close()
	s := acceptWithin(t, b, 10*time.Second)
	defer s.Close()
	uc := c.(*Conn)
	uc.SetCork(true)
	block := randomData(3, 16<<10)
	if _, err := c.Write(block); err != nil {
		t.Fatal(err)
	}
	if a.gsoOff.Load() {
		t.Log("no segmentation offload here: nothing to hold")
	} else if heldBytes(c) == 0 {
		t.Error("a corked 16 KiB write was sent at once")
	}
	uc.SetCork(false)
	if n := heldBytes(c); n != 0 {
		t.Errorf("SetCork(false) left %d bytes held", n)
	}
	_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, len(block))
	if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, block) {
		t.Fatalf("block after uncork: %v, intact %v", err, bytes.Equal(got, block))
	}

	// Bulk, corked throughout: 4 MiB is four times the send queue, so Write waits for
	// room again and again.
	data := randomData(4, 4<<20)
	uc.SetCork(true)
	done := make(chan error, 1)
	go func() {
		for b := data; len(b) > 0; b = b[min(len(b), 16<<10):] {
			if _, err := c.Write(b[:min(len(b), 16<<10)]); err != nil {
				done <- err
				return
			}
		}
		uc.SetCork(false)
		done <- nil
	}()
	got = make([]byte, len(data))
	if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("corked bulk transfer: %v, intact %v", err, bytes.Equal(got, data))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// 1400-byte packets (a remote path): corking holds nothing.
	a2, b2 := listen(t, Config{LocalPacketSize: -1}), listen(t, Config{LocalPacketSize: -1})
	c2 := dial(t, a2, b2.Addr().String())
	defer c2.Close()
	s2 := acceptWithin(t, b2, 10*time.Second)
	defer s2.Close()
	c2.(*Conn).SetCork(true)
	if _, err := c2.Write(block); err != nil {
		t.Fatal(err)
	}
	if n := heldBytes(c2); n != 0 {
		t.Errorf("corking held %d bytes on a connection with 1400-byte packets", n)
	}
}
