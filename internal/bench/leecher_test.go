package bench

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
)

// payload makes a small torrent (seven 16 KiB pieces, the last short) and returns its
// info and bytes.
func payload(t *testing.T) (*metainfo.Info, []byte) {
	t.Helper()
	dir := t.TempDir()
	p, err := MakePayload(context.Background(), dir, "p.bin", 100_000, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "p.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return p.Info, data
}

// fakeSeeder answers the handshake, then says what script says, then (if serve) answers
// every request from data, flipping a byte of piece `corrupt` (-1: none). It stands in
// for a seeder only to produce input no real seeder sends; the real ones are in
// conformance.TestBenchConnect.
func fakeSeeder(t *testing.T, c net.Conn, info *metainfo.Info, data []byte, script []byte, serve bool, corrupt int) {
	defer c.Close()
	if _, err := wire.ReadHandshake(c); err != nil {
		return
	}
	var hs wire.Handshake
	hs.Reserved.SetFast(true)
	hs.InfoHash = info.Hash()
	if err := wire.WriteHandshake(c, hs); err != nil {
		return
	}
	// net.Pipe is synchronous: read on one goroutine, write on this one.
	reqs := make(chan wire.Message, 1024)
	go func() {
		defer close(reqs)
		r := wire.NewReader(c, 0)
		for {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			if m.Type == wire.Request && serve {
				reqs <- m
			}
		}
	}()
	if _, err := c.Write(script); err != nil {
		return
	}
	for m := range reqs {
		off := int64(m.Index)*info.PieceLength + int64(m.Begin)
		block := append([]byte(nil), data[off:off+int64(m.Length)]...)
		if int(m.Index) == corrupt {
			block[0] ^= 0xff
		}
		out := wire.AppendPieceHeader(nil, m.Index, m.Begin, len(block))
		if _, err := c.Write(append(out, block...)); err != nil {
			return
		}
	}
}

func msgs(ms ...wire.Message) []byte {
	var b []byte
	for _, m := range ms {
		b = wire.AppendMessage(b, m)
	}
	return b
}

// TestLeecherVerifies: against a seeder that serves every block, pieces verify; one
// corrupted piece is counted as a hash failure every time it is fetched.
func TestLeecherVerifies(t *testing.T) {
	info, data := payload(t)
	for _, corrupt := range []int{-1, 3} {
		a, b := net.Pipe()
		go fakeSeeder(t, b, info, data, msgs(wire.Message{Type: wire.HaveAll}, wire.Message{Type: wire.Unchoke}), true, corrupt)
		l := newLeecher(0, 1, info, true, 8)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		if err := l.run(ctx, a); err != nil {
			t.Fatalf("corrupt %d: %v", corrupt, err)
		}
		cancel()
		v, f := l.verified.Load(), l.hashFails.Load()
		if v < int64(info.NumPieces()) {
			t.Errorf("corrupt %d: %d pieces verified, want at least one pass (%d)", corrupt, v, info.NumPieces())
		}
		if (corrupt < 0) != (f == 0) {
			t.Errorf("corrupt %d: %d hash failures", corrupt, f)
		}
		if len(l.lat.keep) == 0 {
			t.Error("no latency recorded")
		}
	}
}

// TestLeecherRefusesBadInput: malformed or inconsistent seeder input ends the connection
// with an error naming it, never a panic or a hang.
func TestLeecherRefusesBadInput(t *testing.T) {
	info, data := payload(t)
	pieceMsg := func(index, begin uint32, n int) []byte {
		return append(wire.AppendPieceHeader(nil, index, begin, n), make([]byte, n)...)
	}
	for _, tc := range []struct {
		name   string
		script []byte
		want   string
	}{
		{"bitfield of the wrong length", msgs(wire.Message{Type: wire.Bitfield, Payload: []byte{0xff, 0xff}}), "bitfield"},
		{"have out of range", msgs(wire.Message{Type: wire.Have, Index: 7}), "have 7"},
		{"unasked oversize block", pieceMsg(0, 0, 32<<10), "block of"},
		{"length prefix too large", binary.BigEndian.AppendUint32(nil, 1<<30), "read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			go fakeSeeder(t, b, info, data, tc.script, false, -1)
			l := newLeecher(0, 1, info, false, 8)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := l.run(ctx, a)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestLeecherWrongTorrent: a seeder answering for another info-hash is refused.
func TestLeecherWrongTorrent(t *testing.T) {
	info, _ := payload(t)
	a, b := net.Pipe()
	go func() {
		defer b.Close()
		wire.ReadHandshake(b)
		wire.WriteHandshake(b, wire.Handshake{InfoHash: [20]byte{1}})
	}()
	err := newLeecher(0, 1, info, false, 8).run(context.Background(), a)
	if err == nil || !strings.Contains(err.Error(), "info-hash") {
		t.Fatalf("got %v", err)
	}
}

// TestLeecherBoundedWhenSilent: a seeder that never unchokes does not hold the run past
// its deadline.
func TestLeecherBoundedWhenSilent(t *testing.T) {
	info, data := payload(t)
	a, b := net.Pipe()
	go fakeSeeder(t, b, info, data, msgs(wire.Message{Type: wire.HaveAll}), false, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- newLeecher(0, 1, info, false, 8).run(ctx, a) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a run that ends at its deadline is not a failure: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("leecher still running 10 s after its deadline")
	}
}
