package conformance

// storage and piece against a real peer over loopback TCP: a small loop built from
// wire, piece.Picker and storage.WriteBlockHashed downloads a torrent from a libtorrent
// 2.0.8 seed, and libtorrent downloads it from storage.SendBlock (sendfile). Run it in a
// private network namespace:
//
//	unshare -n sh -c 'ip link set lo up && exec go test ./conformance/ -run StorageSwarm'

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/storage"
	"github.com/speedbt/btt/wire"
)

// ltTorrent writes random files under root/tor, makes a v1 torrent of them with
// libtorrent and returns its path, storage spec and info-hash.
func ltTorrent(t *testing.T, root string, pieceLength int, sizes map[string]int64) (string, storage.Spec, [20]byte) {
	t.Helper()
	writeRandomFiles(t, filepath.Join(root, "tor"), uint64(pieceLength), sizes)
	raw := thirdparty.LibtorrentCreateTorrent(t, filepath.Join(root, "tor"), pieceLength, true, nil)
	return thirdparty.WriteTorrent(t, raw), specOf(t, raw), thirdparty.InfoHash(t, raw)
}

// swarmSize is the main file's size: def, or BTT_STORAGE_SWARM_MB MiB for a throughput run.
func swarmSize(def int64) int64 {
	if mb, err := strconv.Atoi(os.Getenv("BTT_STORAGE_SWARM_MB")); err == nil && mb > 0 {
		return int64(mb) << 20
	}
	return def
}

func total(spec storage.Spec) int64 {
	var n int64
	for _, f := range spec.Files {
		n += f.Length
	}
	return n
}

func TestStorageSwarmFromLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	src := t.TempDir()
	torrent, spec, ih := ltTorrent(t, src, 64<<10, map[string]int64{"a": swarmSize(3<<20) + 12345, "b/c": 700001, "d": 5})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	seed := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")), Torrent: torrent, SavePath: src, Seed: true, TCP: true,
	})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}

	dst := t.TempDir()
	tr, err := storage.Open(dst, spec, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	pk, err := piece.NewPicker(piece.Layout{NumPieces: len(spec.Hashes), PieceLength: spec.PieceLength, TotalLength: total(spec)}, piece.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", seed.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	start := time.Now()
	if err := wire.WriteHandshake(conn, wire.Handshake{InfoHash: ih, PeerID: [20]byte([]byte("-BT0001-storagetest0"))}); err != nil {
		t.Fatal(err)
	}
	hs, err := wire.ReadHandshake(conn)
	if err != nil || hs.InfoHash != ih {
		t.Fatalf("handshake: %v %x", err, hs.InfoHash)
	}
	pool := new(storage.BufferPool)
	type event struct {
		m   wire.Message
		buf *[storage.BlockSize]byte
		err error
	}
	events := make(chan event, 64)
	go func() { // reader goroutine: copies piece payloads into pooled buffers
		r := wire.NewReader(conn, wire.DefaultMaxMessageLen)
		for {
			m, err := r.ReadMessage()
			ev := event{m: m, err: err}
			if err == nil && m.Type == wire.Piece && len(m.Payload) <= storage.BlockSize {
				ev.buf = pool.Get()
				copy(ev.buf[:], m.Payload)
				ev.m.Payload = nil
			} else if err == nil {
				ev.m.Payload = slices.Clone(m.Payload)
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	const peer = piece.PeerKey(1)
	pk.AddPeer(peer)
	out := wire.AppendMessage(nil, wire.Message{Type: wire.Interested})
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	unchoked := false
	var blocks []piece.Block
	refill := func() {
		if !unchoked {
			return
		}
		blocks = pk.Pick(peer, 64-len(pk.Outstanding(peer)), blocks[:0])
		out = out[:0]
		for _, b := range blocks {
			out = wire.AppendMessage(out, wire.Message{Type: wire.Request, Index: b.Piece, Begin: b.Begin, Length: b.Length})
		}
		if len(out) > 0 {
			if _, err := conn.Write(out); err != nil {
				t.Fatal(err)
			}
		}
	}
	for !pk.Complete() {
		ev := <-events
		if ev.err != nil {
			t.Fatalf("after %d of %d pieces: %v", pk.Have().Count(), len(spec.Hashes), ev.err)
		}
		m := ev.m
		switch m.Type {
		case wire.Bitfield:
			bf, err := piece.FromBytes(m.Payload, len(spec.Hashes))
			if err != nil {
				t.Fatal(err)
			}
			pk.PeerBitfield(peer, bf)
		case wire.Have:
			pk.PeerHave(peer, int(m.Index))
		case wire.Unchoke:
			unchoked = true
		case wire.Choke:
			unchoked = false
			pk.PeerChoked(peer)
		case wire.Piece:
			b := piece.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length}
			if _, _, err := pk.Received(peer, b); err != nil {
				pool.Put(ev.buf)
				t.Fatalf("block %v: %v", b, err)
			}
			res, err := tr.WriteBlockHashed(int(b.Piece), int(b.Begin), ev.buf[:b.Length])
			pool.Put(ev.buf)
			switch {
			case err != nil:
				t.Fatal(err)
			case res == storage.PieceVerified:
				pk.Verified(int(b.Piece))
			case res == storage.PieceFailed:
				t.Fatalf("libtorrent's piece %d failed its hash", b.Piece)
			}
		}
		refill()
	}
	elapsed := time.Since(start)
	have, err := tr.Recheck(ctx, 2)
	if err != nil || slices.Contains(have, false) {
		t.Fatalf("recheck after download: %v %v", have, err)
	}
	st := tr.Stats()
	t.Logf("downloaded %d bytes in %d pieces from libtorrent in %v (%.0f MB/s); stats %+v",
		total(spec), len(spec.Hashes), elapsed.Round(time.Millisecond), float64(total(spec))/elapsed.Seconds()/1e6, st)
}

func TestStorageSwarmToLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	src := t.TempDir()
	torrent, spec, ih := ltTorrent(t, src, 32<<10, map[string]int64{"x": swarmSize(2<<20) + 999, "y/z": 300000})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	tr, err := storage.Open(src, spec, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if have, err := tr.Recheck(ctx, 2); err != nil || slices.Contains(have, false) {
		t.Fatalf("source recheck: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, l, tr, ih, len(spec.Hashes)) }()

	start := time.Now()
	leech := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")), Torrent: torrent, TCP: true,
		Peers: []string{l.Addr().String()},
	})
	if err := leech.WaitSeeding(ctx); err != nil {
		t.Fatalf("libtorrent did not complete from SendBlock: %v (%+v)", err, leech.Status())
	}
	elapsed := time.Since(start)
	l.Close()
	if err := <-served; err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		t.Logf("serve ended: %v", err)
	}
	st := tr.Stats()
	if st.BytesSendfile < total(spec) {
		t.Fatalf("sent %d bytes with sendfile, torrent has %d: %+v", st.BytesSendfile, total(spec), st)
	}
	t.Logf("libtorrent downloaded %d bytes from SendBlock in %v (incl. its start-up); stats %+v", total(spec), elapsed.Round(time.Millisecond), st)
}

// serve answers one connection as a seed: handshake, bitfield, unchoke, then every
// request with storage.SendBlock.
func serve(ctx context.Context, l net.Listener, tr *storage.Torrent, ih [20]byte, n int) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	hs, err := wire.ReadHandshake(c)
	if err != nil {
		return err
	}
	if hs.InfoHash != ih {
		return errors.New("wrong info-hash")
	}
	if err := wire.WriteHandshake(c, wire.Handshake{InfoHash: ih, PeerID: [20]byte([]byte("-BT0001-storageseed0"))}); err != nil {
		return err
	}
	bf := piece.New(n)
	bf.SetAll()
	out := wire.AppendMessage(nil, wire.Message{Type: wire.Bitfield, Payload: bf.Bytes()})
	out = wire.AppendMessage(out, wire.Message{Type: wire.Unchoke})
	if _, err := c.Write(out); err != nil {
		return err
	}
	r := wire.NewReader(c, wire.DefaultMaxMessageLen)
	var hdr []byte
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return err
		}
		if m.Type != wire.Request {
			continue
		}
		hdr = wire.AppendPieceHeader(hdr[:0], m.Index, m.Begin, int(m.Length))
		if _, err := tr.SendBlock(c, hdr, int(m.Index), int(m.Begin), int(m.Length)); err != nil {
			return err
		}
	}
}
