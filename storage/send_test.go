package storage

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// hideConn hides the net.Conn's syscall.Conn (and ReaderFrom), forcing the copy path
// as an uTP or encrypted stream would.
type hideConn struct{ w io.Writer }

func (h hideConn) Write(p []byte) (int, error) { return h.w.Write(p) }

// loopback returns a connected TCP pair on 127.0.0.1.
func loopback(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan *net.TCPConn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- nil
			return
		}
		done <- c.(*net.TCPConn)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-done
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s
}

func TestSendBlockTCP(t *testing.T) {
	fx := makeFixture(t, 11, 32768, 20000, -12768, 40000, 300)
	tr := open(t, t.TempDir(), fx, Options{})
	download(t, tr, fx)
	type req struct{ piece, begin, length int }
	reqs := []req{
		{0, 0, 16384},     // inside file 0
		{0, 16384, 16384}, // crosses file 0 into the pad: copy path
		{1, 0, 16384},     // file 2
		{1, 30000, 2768},  // ends at a piece edge
		{2, 0, 7532},      // crosses file 2 into file 3, short last piece
		{2, 7000, 532},
		{1, 0, 32768}, // larger than a block
	}
	for _, mode := range []string{"sendfile", "copy"} {
		t.Run(mode, func(t *testing.T) {
			client, server := loopback(t)
			var w io.Writer = server
			if mode == "copy" {
				w = hideConn{server}
			}
			var want bytes.Buffer
			got := make(chan []byte, 1)
			var total int
			for _, r := range reqs {
				total += 13 + r.length
			}
			go func() {
				b := make([]byte, total)
				client.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, _ := io.ReadFull(client, b)
				got <- b[:n]
			}()
			for _, r := range reqs {
				hdr := []byte{0, 0, 0, 0, 7, 0, 0, 0, byte(r.piece), byte(r.begin >> 24), byte(r.begin >> 16), byte(r.begin >> 8), byte(r.begin)}
				n, err := tr.SendBlock(w, hdr, r.piece, r.begin, r.length)
				if err != nil || n != int64(13+r.length) {
					t.Fatalf("SendBlock %v: %d %v", r, n, err)
				}
				want.Write(hdr)
				off := int64(r.piece)*fx.spec.PieceLength + int64(r.begin)
				want.Write(fx.content[off : off+int64(r.length)])
			}
			if b := <-got; !bytes.Equal(b, want.Bytes()) {
				t.Fatalf("received %d bytes differ from the %d sent", len(b), want.Len())
			}
			st := tr.Stats()
			// The one request that crosses into the pad file is copied even on TCP.
			if mode == "sendfile" && (st.BytesSendfile == 0 || st.BytesCopied != 13+16384) {
				t.Fatalf("sendfile path not taken: %+v", st)
			}
			if mode == "copy" && st.BytesCopied != int64(total)+13+16384 {
				t.Fatalf("copy path counters: %+v (total %d)", st, total)
			}
		})
	}
}

func TestSendBlockChecks(t *testing.T) {
	fx := makeFixture(t, 12, 32768, 70000)
	tr := open(t, t.TempDir(), fx, Options{})
	download(t, tr, fx)
	tr.setHave(1, false)
	_, server := loopback(t)
	if _, err := tr.SendBlock(server, nil, 1, 0, 100); !errors.Is(err, ErrNotHave) {
		t.Fatalf("unverified piece served: %v", err)
	}
	if _, err := tr.SendBlock(server, nil, 0, 32000, 1000); !errors.Is(err, ErrRange) {
		t.Fatalf("range: %v", err)
	}
	// the write deadline applies to the sendfile path: nobody reads, the buffers fill
	server.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		_, err = tr.SendBlock(server, nil, 0, 0, 16384)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked send: %v", err)
	}
}

// TestSendBlockPeerGone: the peer closes; sends fail with an error, never a signal.
func TestSendBlockPeerGone(t *testing.T) {
	fx := makeFixture(t, 14, 32768, 50000)
	tr := open(t, t.TempDir(), fx, Options{})
	download(t, tr, fx)
	for _, mode := range []string{"sendfile", "copy"} {
		client, server := loopback(t)
		var w io.Writer = server
		if mode == "copy" {
			w = hideConn{server}
		}
		client.SetLinger(0) // close with RST
		client.Close()
		var err error
		for i := 0; i < 1000 && err == nil; i++ {
			_, err = tr.SendBlock(w, []byte{1, 2, 3}, 0, 0, 16384)
		}
		if err == nil {
			t.Fatalf("%s: sends to a closed peer kept succeeding", mode)
		}
	}
}

func TestSendBlockUnix(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sendfile path is Linux-only")
	}
	fx := makeFixture(t, 13, 32768, 50000)
	tr := open(t, t.TempDir(), fx, Options{})
	download(t, tr, fx)
	a, b := net.Pipe() // not a syscall.Conn: copy path
	defer a.Close()
	defer b.Close()
	go tr.SendBlock(a, []byte("hdr"), 1, 0, 17232)
	buf := make([]byte, 3+17232)
	if _, err := io.ReadFull(b, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf[:3]) != "hdr" || !bytes.Equal(buf[3:], fx.content[32768:]) {
		t.Fatal("net.Pipe bytes differ")
	}
	dir := t.TempDir()
	l, err := net.Listen("unix", dir+"/s")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tr.SendBlock(c, []byte("hdr"), 1, 0, 17232)
	}()
	c, err := net.Dial("unix", dir+"/s")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf2, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(buf2, buf) {
		t.Fatalf("unix socket: %d bytes, %v", len(buf2), err)
	}
}
