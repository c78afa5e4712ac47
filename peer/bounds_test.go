package peer

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
)

// TestSendQueueCaps: the queue refuses what would pass either cap, counts what the writer
// took until it is released, and makes the reader wait above half the byte cap.
func TestSendQueueCaps(t *testing.T) {
	small := wire.Message{Type: wire.Have, Index: 1}
	big := wire.Message{Type: wire.Extended, Payload: make([]byte, 1000)}
	tests := []struct {
		name          string
		maxB, maxN    int
		msgs          []wire.Message
		wantPushed    int
		wantWaitAfter bool
	}{
		{"under both", 1 << 20, 100, []wire.Message{small, big, small}, 3, false},
		{"message cap", 1 << 20, 4, []wire.Message{small, small, small, small, small, small}, 4, true},
		{"byte cap", 2*(1000+outMsgCost) + outMsgCost/2, 100, []wire.Message{big, big, big, small}, 2, true},
		{"half byte cap waits", 4 * (1000 + outMsgCost), 100, []wire.Message{big, big, big}, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q sendQueue
			q.init(tt.maxB, tt.maxN)
			pushed := 0
			for _, m := range tt.msgs {
				if q.push(outMsg{m: m}) {
					pushed++
				}
			}
			if pushed != tt.wantPushed {
				t.Fatalf("pushed %d, want %d", pushed, tt.wantPushed)
			}
			b, n := q.held()
			if n != pushed || b > tt.maxB {
				t.Fatalf("held %d bytes in %d messages after %d pushes (cap %d)", b, n, pushed, tt.maxB)
			}
			closed := make(chan struct{})
			close(closed)
			if waited := !q.waitRoom(closed); waited != tt.wantWaitAfter {
				t.Fatalf("reader waits = %v, want %v", waited, tt.wantWaitAfter)
			}
			batch := q.take(nil)
			if b2, n2 := q.held(); b2 != b || n2 != n {
				t.Fatalf("taking uncounted the batch: %d/%d -> %d/%d", b, n, b2, n2)
			}
			q.release(batch)
			if b, n := q.held(); b != 0 || n != 0 {
				t.Fatalf("after release: %d bytes, %d messages", b, n)
			}
			if !q.waitRoom(closed) {
				t.Fatal("reader still waits on an empty queue")
			}
		})
	}
}

// onLoop runs f on t's loop and waits for it.
func onLoop(t *torrent, f func()) {
	done := make(chan struct{})
	t.do(func() { f(); close(done) })
	select {
	case <-done:
	case <-t.stopping:
	}
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// bigInfoSeeder starts a seeding session whose info dictionary spans several 16 KiB
// metadata pieces (1024 pieces of 16 KiB: 20 KB of hashes).
func bigInfoSeeder(t *testing.T, st Settings) (*Session, *metainfo.MetaInfo) {
	t.Helper()
	dir := t.TempDir()
	mi := writeTree(t, dir, "big", []int{16 << 20}, 16<<10, 9)
	if n := wire.MetadataPieces(len(mi.Info.Bytes())); n < 2 {
		t.Fatalf("info dictionary has %d metadata pieces", n)
	}
	s := newTestSession(t, st)
	if _, err := s.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	return s, mi
}

// rawPeer connects to s for mi as a hand-made peer sending ext as its BEP 10 handshake.
func rawPeer(t *testing.T, s *Session, ih [20]byte, ext wire.ExtendedHandshake) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	h := wire.Handshake{InfoHash: ih}
	copy(h.PeerID[:], "-XX0001-hostilehosti")
	h.Reserved.SetExtended(true)
	h.Reserved.SetFast(true)
	if err := wire.WriteHandshake(nc, h); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.ReadHandshake(nc); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, Payload: wire.AppendExtendedHandshake(nil, ext)})); err != nil {
		t.Fatal(err)
	}
	return nc
}

// floodUntilStalled writes msg repeatedly, total bytes at most, until the victim stops
// reading (a write times out) or closes; it returns what it wrote.
func floodUntilStalled(nc net.Conn, msg []byte, total int) int {
	batch := []byte{}
	for len(batch) < 64<<10 {
		batch = append(batch, msg...)
	}
	sent := 0
	for sent < total {
		nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		n, err := nc.Write(batch)
		sent += n
		if err != nil {
			break
		}
	}
	return sent
}

// TestMetadataFloodBounded (issue 12): a peer that asks for metadata pieces without ever
// reading used to make us allocate a 16 KiB reply per request without bound. Now replies
// are built at write time, at most maxQueuedMetadata wait, the rest are rejected into a
// capped queue, and we stop reading from the peer: the seeder's heap stays bounded while
// the peer sends 1 MiB of requests (about 23,000, which held 370 MiB before).
func TestMetadataFloodBounded(t *testing.T) {
	s, mi := bigInfoSeeder(t, Settings{})
	before := heapInUse()
	nc := rawPeer(t, s, mi.Info.Hash(), wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: 3}})
	req := wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: extIDMetadata,
		Payload: wire.AppendMetadataMessage(nil, wire.MetadataMessage{Type: wire.MetadataRequest, Piece: 0})})
	sent := floodUntilStalled(nc, req, 1<<20)
	time.Sleep(200 * time.Millisecond) // let the loop take what the reader posted
	grew := int64(heapInUse()) - int64(before)
	t.Logf("sent %d bytes of requests (%d requests); seeder heap grew %d KiB", sent, sent/len(req), grew>>10)
	if limit := int64(16 << 20); grew > limit {
		t.Fatalf("heap grew %d MiB under a metadata flood (bound %d MiB)", grew>>20, limit>>20)
	}
	tor := s.lookup(mi.Info.Hash()).t
	onLoop(tor, func() {
		for _, c := range tor.conns {
			if b, _ := c.out.held(); b > s.settings.MaxSendQueueBytes {
				t.Errorf("%v holds %d bytes for its peer (cap %d)", c, b, s.settings.MaxSendQueueBytes)
			}
		}
	})
	nc.Close()
}

// TestMetadataServedAndLimited: an honest metadata fetch still gets every piece, each
// reply counted against the upload limit, and requests past the per-connection budget are
// rejected.
func TestMetadataServedAndLimited(t *testing.T) {
	s, mi := bigInfoSeeder(t, Settings{UploadRateLimit: 64 << 10})
	info := mi.Info.Bytes()
	pieces := wire.MetadataPieces(len(info))
	nc := rawPeer(t, s, mi.Info.Hash(), wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: 3}})
	r := wire.NewReader(nc, 0)
	request := func(i int) {
		t.Helper()
		p := wire.AppendMetadataMessage(nil, wire.MetadataMessage{Type: wire.MetadataRequest, Piece: i})
		if _, err := nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: extIDMetadata, Payload: p})); err != nil {
			t.Fatal(err)
		}
	}
	next := func() wire.MetadataMessage {
		t.Helper()
		for {
			m, err := r.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if m.Type == wire.Extended && m.ExtID == 3 {
				mm, err := wire.ParseMetadataMessage(m.Payload)
				if err != nil {
					t.Fatal(err)
				}
				return mm
			}
		}
	}
	budget := metadataServeFactor*pieces + maxQueuedMetadata
	got := make([]byte, len(info))
	served, rejected := 0, 0
	for i := 0; i < budget+3; i++ {
		request(i % pieces)
		mm := next()
		switch mm.Type {
		case wire.MetadataData:
			served++
			if mm.TotalSize != len(info) {
				t.Fatalf("total_size %d, want %d", mm.TotalSize, len(info))
			}
			copy(got[mm.Piece*wire.MetadataPieceLen:], mm.Data)
		case wire.MetadataReject:
			rejected++
		}
	}
	if string(got) != string(info) {
		t.Fatal("served metadata differs from the info dictionary")
	}
	if served != budget || rejected != 3 {
		t.Fatalf("served %d, rejected %d; want %d served then 3 rejected", served, rejected, budget)
	}
}

// TestExtHandshakeTableBounded (issue 12): repeated extended handshakes full of new
// extension names used to pile up in the peer's id table (29.8 MiB sent kept 168 MiB).
// Only the ids of extensions we send are kept now; a later handshake still updates them.
func TestExtHandshakeTableBounded(t *testing.T) {
	s, mi := bigInfoSeeder(t, Settings{})
	before := heapInUse()
	nc := rawPeer(t, s, mi.Info.Hash(), wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: 3}})
	go func() { // read whatever the seeder sends so that only the table can grow
		buf := make([]byte, 64<<10)
		for {
			if _, err := nc.Read(buf); err != nil {
				return
			}
		}
	}()
	const rounds, names = 200, 1500
	pad := strings.Repeat("x", 40)
	sent := 0
	for r := range rounds {
		m := make(map[string]int, names)
		for i := range names {
			m[fmt.Sprintf("%s%d_%d", pad, r, i)] = 1 + i%200
		}
		msg := wire.AppendMessage(nil, wire.Message{Type: wire.Extended, Payload: wire.AppendExtendedHandshake(nil, wire.ExtendedHandshake{M: m})})
		if _, err := nc.Write(msg); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		sent += len(msg)
	}
	// The same connection still works, with the id its last handshake gave.
	msg := wire.AppendMessage(nil, wire.Message{Type: wire.Extended, Payload: wire.AppendExtendedHandshake(nil, wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: 9}})})
	if _, err := nc.Write(msg); err != nil {
		t.Fatal(err)
	}
	tor := s.lookup(mi.Info.Hash()).t
	deadline := time.Now().Add(20 * time.Second)
	for {
		id := -1
		onLoop(tor, func() {
			for _, c := range tor.conns {
				id = int(c.ls.ext.metadata)
			}
		})
		if id == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the last handshake's ut_metadata id never applied (id %d)", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	grew := int64(heapInUse()) - int64(before)
	t.Logf("sent %d MiB of handshakes; seeder heap grew %d KiB", sent>>20, grew>>10)
	if limit := int64(8 << 20); grew > limit {
		t.Fatalf("heap grew %d MiB after %d MiB of handshakes (bound %d MiB)", grew>>20, sent>>20, limit>>20)
	}
}

// TestNonReaderDisconnected: a peer that asks for blocks and never reads them holds an
// upload slot only until WriteStallTimeout, then it is disconnected.
func TestNonReaderDisconnected(t *testing.T) {
	s, mi := bigInfoSeeder(t, Settings{WriteStallTimeout: 500 * time.Millisecond})
	nc := rawPeer(t, s, mi.Info.Hash(), wire.ExtendedHandshake{})
	var reqs []byte
	reqs = wire.AppendMessage(reqs, wire.Message{Type: wire.Interested})
	for i := range 400 {
		reqs = wire.AppendMessage(reqs, wire.Message{Type: wire.Request, Index: uint32(i), Begin: 0, Length: 16 << 10})
	}
	tor := s.lookup(mi.Info.Hash()).t
	conns := func() int {
		n := 0
		onLoop(tor, func() { n = len(tor.conns) })
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for conns() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the peer never connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	nc.Write(reqs) // may block once the seeder stops reading; the error does not matter
	for conns() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a peer that never reads still holds its connection")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
