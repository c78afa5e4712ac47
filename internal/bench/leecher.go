package bench

import (
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
)

// readIdle bounds each read: a seeder that sends nothing (not even a keep-alive or an
// unchoke) for this long while we wait on it ends the connection with a timeout. BEP 3
// keep-alives come every two minutes at most, but a seeder under test that says nothing
// for 30 s is the finding.
const readIdle = 30 * time.Second

// writeTimeout bounds one write of requests; the seeder reads them as fast as it can.
const writeTimeout = 10 * time.Second

// maxSentAhead bounds the blocks whose data has not arrived, whatever --depth asks for:
// 512 blocks (8 MiB) cover a 10 Gbit/s link at 6 ms round trip, and keep a hostile seeder
// from making us track unbounded state.
const maxSentAhead = 512

type blockRef struct{ index, begin uint32 }

// piece is a piece being fetched: its blocks still to request, and with Verify its bytes.
type piece struct {
	index   uint32
	size    uint32
	next    uint32 // offset of the next block not yet requested (on a fresh pass)
	got     int    // blocks received
	nblocks int
	have    []bool // received blocks, by block number
	data    []byte // with Verify: the piece's bytes as they arrive
}

// leecher is one lightweight downloader. Its counters are read by the progress reporter
// while it runs (atomics); everything else belongs to its goroutine.
type leecher struct {
	id     int
	info   *metainfo.Info
	verify bool
	depth  int

	bytes     atomic.Int64 // payload bytes received
	verified  atomic.Int64 // pieces whose SHA-1 matched (Verify)
	hashFails atomic.Int64 // pieces whose SHA-1 did not match (Verify)
	requests  atomic.Int64 // requests sent
	connected atomic.Bool  // handshake done
	lat       *sampler     // request latency (request sent -> block in)

	has      []bool // the seeder's pieces
	nhas     int
	cursor   int // next piece index to start, wrapping
	choked   bool
	active   map[uint32]*piece
	outstand map[blockRef]time.Time // requested, not yet received
	retry    []blockRef             // requested once, rejected or choked away: ask again
	free     [][]byte               // piece buffers to reuse (Verify)
}

func newLeecher(id, peers int, info *metainfo.Info, verify bool, depth int) *leecher {
	if depth <= 0 {
		depth = defaultDepth
	}
	depth = min(depth, maxSentAhead)
	n := info.NumPieces()
	return &leecher{
		id: id, info: info, verify: verify, depth: depth,
		lat:    newSampler(uint64(id)*0x9e3779b97f4a7c15 + 1),
		has:    make([]bool, n),
		cursor: id * n / max(peers, 1), // spread peers over the torrent
		choked: true, active: map[uint32]*piece{}, outstand: map[blockRef]time.Time{},
	}
}

// peerID is "-BT0001-" and the leecher's number, so a seeder's log tells them apart.
func (l *leecher) peerID() [20]byte {
	var id [20]byte
	copy(id[:], fmt.Sprintf("-BT0001-bench%07d", l.id%10_000_000))
	return id
}

// run speaks to the seeder on c until ctx ends (a normal end: it returns nil) or the
// connection fails. It closes c.
func (l *leecher) run(ctx context.Context, c net.Conn) error {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	err := l.talk(ctx, c)
	if ctx.Err() != nil {
		return nil // the run's deadline, not a failure
	}
	return err
}

func (l *leecher) talk(ctx context.Context, c net.Conn) error {
	var hs wire.Handshake
	hs.Reserved.SetFast(true)
	hs.InfoHash = l.info.Hash()
	hs.PeerID = l.peerID()
	c.SetDeadline(time.Now().Add(readIdle))
	if err := wire.WriteHandshake(c, hs); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	theirs, err := wire.ReadHandshake(c)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if theirs.InfoHash != hs.InfoHash {
		return fmt.Errorf("handshake: seeder answered for info-hash %x", theirs.InfoHash)
	}
	l.connected.Store(true)
	var out []byte
	out = wire.AppendMessage(out, wire.Message{Type: wire.Interested})
	if err := l.write(c, out); err != nil {
		return err
	}
	r := wire.NewReaderSize(c, 0, 64<<10)
	scratch := make([]byte, wire.BlockLen)
	for ctx.Err() == nil {
		c.SetReadDeadline(time.Now().Add(readIdle))
		m, err := r.ReadHeader()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		switch m.Type {
		case wire.Bitfield:
			if err := l.setBitfield(m.Payload); err != nil {
				return err
			}
		case wire.HaveAll:
			for i := range l.has {
				l.has[i] = true
			}
			l.nhas = len(l.has)
		case wire.Have:
			if int(m.Index) >= len(l.has) {
				return fmt.Errorf("have %d: torrent has %d pieces", m.Index, len(l.has))
			}
			if !l.has[m.Index] {
				l.has[m.Index] = true
				l.nhas++
			}
		case wire.Choke:
			l.choked = true
			// Without the fast extension, requests die with a choke; with it the seeder
			// rejects them one by one. Either way they are asked again after an unchoke,
			// and a block that arrives anyway is still taken.
			for ref := range l.outstand {
				l.retry = append(l.retry, ref)
			}
			clear(l.outstand)
		case wire.Unchoke:
			l.choked = false
		case wire.Reject:
			ref := blockRef{m.Index, m.Begin}
			if _, ok := l.outstand[ref]; ok {
				delete(l.outstand, ref)
				l.retry = append(l.retry, ref)
			}
		case wire.Piece:
			if err := l.block(r, m, scratch); err != nil {
				return err
			}
		}
		if !l.choked && l.nhas > 0 {
			if out, err = l.topUp(out[:0]); err != nil {
				return err
			}
			if len(out) > 0 {
				if err := l.write(c, out); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (l *leecher) write(c net.Conn, b []byte) error {
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (l *leecher) setBitfield(b []byte) error {
	if len(b) != (len(l.has)+7)/8 {
		return fmt.Errorf("bitfield of %d bytes for %d pieces", len(b), len(l.has))
	}
	l.nhas = 0
	for i := range l.has {
		l.has[i] = b[i/8]&(0x80>>(i%8)) != 0
		if l.has[i] {
			l.nhas++
		}
	}
	return nil
}

// block takes one piece message whose header r just read.
func (l *leecher) block(r *wire.Reader, m wire.Message, scratch []byte) error {
	ref := blockRef{m.Index, m.Begin}
	sent, asked := l.outstand[ref]
	p := l.active[m.Index]
	if m.Length > wire.BlockLen || p == nil || m.Begin%wire.BlockLen != 0 || m.Begin+m.Length > p.size ||
		p.have[m.Begin/wire.BlockLen] {
		if !asked {
			// A block we never asked for (or already have): BEP 3 lets a seeder send a
			// block requested before a choke, so it is read and dropped, not an error.
			if m.Length > wire.BlockLen {
				return fmt.Errorf("block of %d bytes", m.Length)
			}
			return r.ReadPayload(scratch[:m.Length])
		}
		return fmt.Errorf("block %d/%d+%d does not fit the piece", m.Index, m.Begin, m.Length)
	}
	want := min(p.size-m.Begin, wire.BlockLen)
	if m.Length != want {
		return fmt.Errorf("block %d/%d: %d bytes, want %d", m.Index, m.Begin, m.Length, want)
	}
	dst := scratch[:m.Length]
	if l.verify {
		dst = p.data[m.Begin : m.Begin+m.Length]
	}
	if err := r.ReadPayload(dst); err != nil {
		return fmt.Errorf("read block: %w", err)
	}
	now := time.Now()
	if asked {
		delete(l.outstand, ref)
		l.lat.add(now.Sub(sent))
	}
	l.bytes.Add(int64(m.Length))
	p.have[m.Begin/wire.BlockLen] = true
	p.got++
	if p.got == p.nblocks {
		if l.verify {
			if sha1.Sum(p.data) == l.info.Pieces[p.index] {
				l.verified.Add(1)
			} else {
				l.hashFails.Add(1)
			}
			l.free = append(l.free, p.data[:cap(p.data)])
		}
		delete(l.active, m.Index)
	}
	return nil
}

// topUp appends requests until depth blocks are in flight: first blocks to ask again,
// then the rest of the pieces started, then new pieces from the cursor on.
func (l *leecher) topUp(out []byte) ([]byte, error) {
	now := time.Now()
	ask := func(ref blockRef, size uint32) {
		out = wire.AppendMessage(out, wire.Message{Type: wire.Request, Index: ref.index, Begin: ref.begin, Length: size})
		l.outstand[ref] = now
		l.requests.Add(1)
	}
	for len(l.outstand) < l.depth && len(l.retry) > 0 {
		ref := l.retry[len(l.retry)-1]
		l.retry = l.retry[:len(l.retry)-1]
		p := l.active[ref.index]
		if p == nil || p.have[ref.begin/wire.BlockLen] {
			continue
		}
		if _, ok := l.outstand[ref]; !ok {
			ask(ref, min(p.size-ref.begin, wire.BlockLen))
		}
	}
	for len(l.outstand) < l.depth {
		p := l.unfinished()
		if p == nil {
			var err error
			if p, err = l.start(); err != nil || p == nil {
				return out, err
			}
		}
		ask(blockRef{p.index, p.next}, min(p.size-p.next, wire.BlockLen))
		p.next += wire.BlockLen
	}
	return out, nil
}

// unfinished returns a started piece with blocks never requested, if any. Pieces started
// are few (depth / blocks per piece + 1), so the scan is short.
func (l *leecher) unfinished() *piece {
	for _, p := range l.active {
		if p.next < p.size {
			return p
		}
	}
	return nil
}

// start begins the next piece the seeder has, from the cursor on, wrapping around the
// torrent: a connection tester keeps downloading for as long as it runs.
func (l *leecher) start() (*piece, error) {
	n := len(l.has)
	for range n {
		i := l.cursor
		l.cursor = (l.cursor + 1) % n
		if !l.has[i] || l.active[uint32(i)] != nil {
			continue
		}
		size := uint32(l.info.PieceSize(i))
		nb := int((size + wire.BlockLen - 1) / wire.BlockLen)
		p := &piece{index: uint32(i), size: size, nblocks: nb, have: make([]bool, nb)}
		if l.verify {
			if k := len(l.free); k > 0 && cap(l.free[k-1]) >= int(size) {
				p.data, l.free = l.free[k-1][:size], l.free[:k-1]
			} else {
				p.data = make([]byte, size)
			}
		}
		l.active[p.index] = p
		return p, nil
	}
	return nil, nil // every piece the seeder has is in flight
}

// rate is the leecher's payload rate over the run's elapsed time, in bytes/s, so that a
// peer served late or not at all shows as slow (fairness counts it).
func (l *leecher) rate(elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(l.bytes.Load()) / elapsed.Seconds()
}
