package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/choke"
	"github.com/speedbt/btt/peer/tracker"
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/storage"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
)

// TorrentOptions say where a torrent's data lives and whom to contact.
type TorrentOptions struct {
	// DataDir is the directory the torrent's files are stored under.
	DataDir string
	// Peers are addresses to dial at once (more can be added with AddPeers).
	Peers []string
	// ResumeFile, if set, records verified pieces so a restart skips rehashing them when the
	// files' sizes and modification times still match.
	ResumeFile string
	// Speed overrides the session's Speed settings for this torrent (Off opts it out).
	Speed bidext.TorrentSettings
	// Trackers are the tracker tiers to announce to (BEP 12): the torrent's announce-list
	// (metainfo.MetaInfo.Trackers) plus any the user adds.
	Trackers [][]string
	// WebSeeds are BEP 19 web seed URLs (the torrent's url-list); see webseed.go.
	WebSeeds []string
	// SuperSeed turns on BEP 16 super-seeding while the torrent seeds; see superseed.go.
	SuperSeed bool
	// PieceLayers are a v2 or hybrid torrent's piece layers (metainfo.MetaInfo.PieceLayers):
	// a v2-only torrent with a file longer than one piece cannot be added without them.
	PieceLayers map[[32]byte][]byte
}

// Torrent is a torrent running in a Session.
type Torrent struct {
	t *torrent
}

// Stats is a snapshot of a torrent's progress.
type Stats struct {
	Pieces, PiecesDone int
	Length             int64 // bytes of the torrent's content
	BytesDone          int64 // verified bytes
	Downloaded         int64 // payload bytes received (wanted)
	Uploaded           int64 // payload bytes sent
	Wasted             int64 // payload bytes received that we had not asked for, or that failed the hash
	HashFailures       int
	Peers              int
	Unchoked           int // peers we upload to
	Banned             int
	Complete           bool
	RecheckedPieces    int // pieces found verified on disk at start

	// Speed counters.
	BidsReceived    int // bid messages from requesters
	AuctionUnchokes int // unchokes of auction winners (each preceded by a bid-response)
	SourceProofs    int // valid source proofs received
	BadProofs       int // source proofs refused (invalid, replayed, stale)

	// Payments (base units).
	Spent            int64 // paid to providers: vouchers they acknowledged
	Promised         int64 // in every voucher sent (the last may be in flight)
	VouchersSent     int
	PaymentAcks      int
	ChannelsOpened   int
	Earned           int64 // accepted from requesters' vouchers
	VouchersAccepted int
	Settled          int64 // paid to us by the ledger on channel closes, session-wide, each close once
	PaymentFailures  int   // requesters choked or struck for not paying
	Withdrawals      int   // providers we withdrew our bid from: we could not pay them

	TrackerAnnounces int // announces a tracker answered
	ClaimDisconnects int // peers dropped for bidding far below what a tracker claimed
	// Closed counts the connections closed so far by reason (CloseReason's names:
	// "protocol", "banned", "both-seeds", ...); reasons that never happened are absent.
	Closed map[string]int
}

// InfoHash is the torrent's v1 info-hash.
func (T *Torrent) InfoHash() [20]byte { return T.t.infoHash }

// Stats returns current counters without waiting on the torrent loop.
func (T *Torrent) Stats() Stats {
	t := T.t
	st := Stats{
		Pieces:          t.layout.NumPieces,
		PiecesDone:      int(t.stats.piecesDone.Load()),
		Length:          t.layout.TotalLength,
		BytesDone:       t.stats.bytesDone.Load(),
		Downloaded:      t.stats.downloaded.Load(),
		Uploaded:        t.stats.uploaded.Load(),
		Wasted:          t.stats.wasted.Load(),
		HashFailures:    int(t.stats.hashFailures.Load()),
		Peers:           int(t.stats.peers.Load()),
		Unchoked:        int(t.stats.unchoked.Load()),
		Banned:          int(t.stats.banned.Load()),
		RecheckedPieces: t.recheckedPieces,
		BidsReceived:    int(t.stats.bids.Load()),
		AuctionUnchokes: int(t.stats.auctionUnchokes.Load()),
		SourceProofs:    int(t.stats.proofs.Load()),
		BadProofs:       int(t.stats.badProofs.Load()),

		Spent:            t.stats.spent.Load(),
		Promised:         t.stats.promised.Load(),
		VouchersSent:     int(t.stats.vouchersSent.Load()),
		PaymentAcks:      int(t.stats.paymentAcks.Load()),
		ChannelsOpened:   int(t.stats.channelsOpened.Load()),
		Earned:           t.stats.earned.Load(),
		VouchersAccepted: int(t.stats.vouchersAccepted.Load()),
		Settled:          t.s.settledTotal(),
		PaymentFailures:  int(t.stats.paymentFailures.Load()),
		Withdrawals:      int(t.stats.withdrawals.Load()),
		TrackerAnnounces: int(t.stats.trackerAnnounces.Load()),
		ClaimDisconnects: int(t.stats.claimDisconnects.Load()),
		Closed:           t.closeCounts(),
	}
	st.Complete = st.PiecesDone == st.Pieces
	return st
}

// Complete is closed once every piece is verified on disk.
func (T *Torrent) Complete() <-chan struct{} { return T.t.complete }

// AddPeers queues addresses ("host:port") to connect to.
func (T *Torrent) AddPeers(addrs ...string) error {
	var aps []netip.AddrPort
	for _, a := range addrs {
		ap, err := resolveAddrPort(a)
		if err != nil {
			return err
		}
		aps = append(aps, ap)
	}
	T.t.do(func() {
		for _, ap := range aps {
			T.t.known[ap] = struct{}{}
			delete(T.t.failures, ap) // the user named it again: try at once
		}
		T.t.connectMore()
	})
	return nil
}

func resolveAddrPort(a string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(a); err == nil {
		return ap, nil
	}
	ta, err := net.ResolveTCPAddr("tcp", a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("peer: address %q: %w", a, err)
	}
	return ta.AddrPort(), nil
}

// Close stops the torrent: its connections are closed and its files synced and closed.
func (T *Torrent) Close() error {
	t := T.t
	t.stopOnce.Do(func() { close(t.stopping) })
	<-t.done
	t.s.mu.Lock()
	if t.s.torrents[t.infoHash] == T {
		delete(t.s.torrents, t.infoHash)
	}
	t.s.mu.Unlock()
	return t.closeErr
}

// torrent is the state owned by one torrent's loop goroutine.
type torrent struct {
	s        *Session
	info     *metainfo.Info
	infoHash [20]byte
	layout   piece.Layout
	store    *storage.Torrent
	picker   *piece.Picker
	opts     TorrentOptions

	events   chan event
	cmds     chan func()
	stopping chan struct{}
	stopOnce sync.Once
	done     chan struct{} // the loop has exited
	complete chan struct{}
	closeErr error

	conns    map[piece.PeerKey]*conn
	connWG   sync.WaitGroup // the connections' reader and writer goroutines
	disk     chan diskJob   // received blocks for the disk workers
	diskQ    []diskJob      // accepted blocks waiting for the disk channel
	diskWG   sync.WaitGroup
	nextKey  piece.PeerKey
	known    map[netip.AddrPort]struct{} // addresses we may dial
	dialing  map[netip.AddrPort]struct{}
	failures map[netip.AddrPort]dialFailure
	blame    piece.Blame[netip.Addr] // strikes for corrupt data, by address (smartban.go)
	failedBy map[int][]failedAttempt // who sent the blocks of failed pieces (smartban.go)
	choker   choke.State

	recheckedPieces int
	stats           struct {
		piecesDone, bytesDone, downloaded, uploaded, wasted, hashFailures atomic.Int64
		peers, unchoked, banned                                           atomic.Int32
		bids, auctionUnchokes, proofs, badProofs                          atomic.Int64
		trackerAnnounces, claimDisconnects                                atomic.Int64
		closes                                                            [numCloseReasons]atomic.Int64 // by CloseReason
		spent, promised, vouchersSent, paymentAcks, channelsOpened        atomic.Int64
		earned, vouchersAccepted, paymentFailures, withdrawals            atomic.Int64
	}
	speed   *speedTorrent      // nil when Speed is off for this torrent
	bidding atomic.Bool        // auto-bid is on: its remaining data counts in the session's bid
	chunks  *bidext.ChunkCache // challenged chunks, for possession challenges and proofs

	pex     pexState  // BEP 11 peer exchange
	dhtNext time.Time // next DHT lookup
	dhtBusy bool      // a lookup is running
	dhtFail int       // lookups in a row that reached no node or found no peer (dhtannounce.go)

	super *superSeed // BEP 16 state; nil unless opts.SuperSeed

	announcer  *tracker.Announcer // nil without trackers
	announcing bool               // an announce is running (the announcer is not concurrent)
	trackerKey uint32
	claims     map[netip.Addr]claimedBid // bids trackers claimed for peers

	reqBuf []piece.Block
	depth  piece.DepthConfig
}

// AddTorrent opens (or creates) the torrent's files under opts.DataDir, checks what is already
// there, and starts serving and fetching.
func (s *Session) AddTorrent(info *metainfo.Info, opts TorrentOptions) (*Torrent, error) {
	layout := piece.Layout{PieceLength: info.PieceLength, TotalLength: streamLength(info), NumPieces: info.NumPieces()}
	t := &torrent{
		s:        s,
		info:     info,
		infoHash: info.Hash(),
		layout:   layout,
		opts:     opts,
		events:   make(chan event, 256),
		cmds:     make(chan func(), 64),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
		complete: make(chan struct{}),
		conns:    map[piece.PeerKey]*conn{},
		known:    map[netip.AddrPort]struct{}{},
		dialing:  map[netip.AddrPort]struct{}{},
		failures: map[netip.AddrPort]dialFailure{},
		depth:    piece.DefaultDepth(),
		blame:    piece.Blame[netip.Addr]{Limit: s.settings.HashFailBan},

		claims: map[netip.Addr]claimedBid{},
	}
	t.chunks = bidext.NewChunkCache(t.readChunkFromStore, time.Now)
	T := &Torrent{t: t}
	s.mu.Lock()
	if _, dup := s.torrents[t.infoHash]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("peer: torrent %x already added", t.infoHash)
	}
	s.mu.Unlock()

	if err := t.openStorage(); err != nil {
		return nil, err
	}
	if err := t.initSpeed(opts.Speed); err != nil {
		t.store.Close()
		return nil, err
	}
	picker, err := piece.NewPicker(layout, piece.Config{})
	if err != nil {
		t.store.Close()
		return nil, err
	}
	t.picker = picker
	t.depth.SnubTimeout = s.settings.SnubTimeout
	have, err := t.loadHave()
	if err != nil {
		t.store.Close()
		return nil, err
	}
	for i := range layout.NumPieces {
		if have.Has(i) {
			picker.SetHave(i)
			t.pieceVerifiedStats(i)
		}
	}
	t.recheckedPieces = have.Count()
	for _, a := range opts.Peers {
		ap, err := resolveAddrPort(a)
		if err != nil {
			t.store.Close()
			return nil, err
		}
		t.known[ap] = struct{}{}
	}

	s.mu.Lock()
	if _, dup := s.torrents[t.infoHash]; dup {
		s.mu.Unlock()
		t.store.Close()
		return nil, fmt.Errorf("peer: torrent %x already added", t.infoHash)
	}
	s.torrents[t.infoHash] = T
	s.mu.Unlock()
	// Read once, before the loop starts: from then on the picker is the loop's alone.
	complete := picker.Complete()
	if complete {
		close(t.complete)
	}
	if opts.SuperSeed {
		t.super = newSuperSeed(layout.NumPieces)
	}
	t.startTrackers(opts.Trackers)
	t.startDisk()
	s.wg.Add(1)
	go t.run()
	if !complete {
		t.startWebSeeds(info, opts.WebSeeds)
	}
	return T, nil
}

// do runs f on the loop.
func (t *torrent) do(f func()) {
	select {
	case t.cmds <- f:
	case <-t.stopping:
	}
}

// adopt hands a handshaken connection to the loop.
func (t *torrent) adopt(nc net.Conn, h wire.Handshake, outgoing bool) {
	select {
	case t.cmds <- func() { t.addConn(nc, h, outgoing) }:
	case <-t.stopping:
		nc.Close()
	}
}

func (t *torrent) run() {
	defer t.s.wg.Done()
	defer close(t.done)
	rechoke := time.NewTicker(t.s.settings.RechokeInterval)
	defer rechoke.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	t.connectMore()
	for {
		diskCh, job := t.diskSend()
		select {
		case diskCh <- job:
			t.diskQ[0] = diskJob{}
			t.diskQ = t.diskQ[1:]
		case ev := <-t.events:
			t.handle(ev)
		case f := <-t.cmds:
			f()
		case <-tick.C:
			t.tick()
		case <-rechoke.C:
			t.rechoke()
		case <-t.stopping:
			t.shutdown()
			return
		case <-t.s.ctx.Done():
			t.stopOnce.Do(func() { close(t.stopping) })
		}
	}
}

func (t *torrent) shutdown() {
	for _, c := range t.conns {
		c.close(errTorrentClosed)
	}
	// Readers and writers see the closed socket (or the closed stopping channel) and end
	// without waiting on the loop; wait for them before the files close under them.
	t.connWG.Wait()
	t.stopDisk()
	if !t.announcing {
		t.stopTrackers()
	}
	for _, c := range t.conns {
		t.removeConn(c, errTorrentClosed)
	}
	t.closeErr = errors.Join(t.closeErr, t.closeStorage())
}

// addConn registers a new connection and starts its goroutines.
func (t *torrent) addConn(nc net.Conn, h wire.Handshake, outgoing bool) {
	addr := remoteAddr(nc)
	if len(t.conns) >= t.s.settings.MaxConnsPerTorrent || t.s.banned(addr) {
		nc.Close()
		return
	}
	for _, c := range t.conns {
		if c.peerID == h.PeerID {
			nc.Close() // a second connection to the same peer (both dialled at once)
			return
		}
	}
	t.nextKey++
	c := newConn(t, nc, h, outgoing)
	c.key = t.nextKey
	now := time.Now()
	c.ls.connectedAt = now
	c.ls.lastBlock = now
	c.ls.has = piece.New(t.layout.NumPieces)
	t.conns[c.key] = c
	t.picker.AddPeer(c.key)
	t.s.conns.Add(1)
	t.stats.peers.Store(int32(len(t.conns)))
	t.connWG.Add(2)
	go func() { defer t.connWG.Done(); c.readLoop() }()
	go func() { defer t.connWG.Done(); c.writeLoop() }()

	if c.extended() {
		c.send(t.extHandshake(c))
	}
	t.sendHaves(c)
	t.grantAllowedFast(c)
	if t.s.dht != nil && c.reserved.SupportsDHT() {
		c.send(wire.Message{Type: wire.Port, Port: uint16(t.s.listenPort())})
	}
	t.s.log.Debug("peer connected", "addr", c, "outgoing", outgoing)
}

func (t *torrent) sendHaves(c *conn) {
	have := t.picker.Have()
	if t.superSeeding() {
		t.superOffer(c) // BEP 16: one piece at a time instead of everything
		return
	}
	switch {
	case c.fast() && have.All():
		c.send(wire.Message{Type: wire.HaveAll})
	case c.fast() && have.None():
		c.send(wire.Message{Type: wire.HaveNone})
	case !have.None():
		c.send(wire.Message{Type: wire.Bitfield, Payload: have.Bytes()})
	}
}

func (t *torrent) removeConn(c *conn, err error) {
	if _, ok := t.conns[c.key]; !ok {
		return
	}
	delete(t.conns, c.key)
	t.picker.RemovePeer(c.key)
	if t.super != nil {
		t.superForget(c)
	}
	t.payeeDisconnect(c)
	t.payerDisconnect(c)
	t.s.conns.Add(-1)
	t.stats.peers.Store(int32(len(t.conns)))
	t.noteClose(c, err)
	if !c.ls.amChoking {
		t.rechokeSoon()
	}
}

func (t *torrent) handle(ev event) {
	c := ev.c
	if t.conns[c.key] != c {
		// A late event of a connection already removed. A block it sent was stored by a
		// disk worker after the connection closed: what that did to its piece still counts.
		switch ev.kind {
		case evBlock:
			t.onPieceResult(nil, ev)
		case evBlockData:
			t.s.blocks.Put(ev.buf)
		}
		return
	}
	switch ev.kind {
	case evClosed:
		t.removeConn(c, ev.err)
	case evBlockData:
		t.onBlockData(c, ev)
	case evBlock:
		t.onPieceResult(c, ev)
	case evMessage:
		if err := t.onMessage(c, ev.msg); err != nil {
			t.s.log.Info("dropping peer", "addr", c, "err", err)
			c.close(err)
		}
	}
}

// errProtocol marks a peer's breach of the protocol.
type errProtocol struct{ msg string }

func (e *errProtocol) Error() string { return "peer: protocol violation: " + e.msg }

func protocolErr(format string, args ...any) error {
	return &errProtocol{fmt.Sprintf(format, args...)}
}

func (t *torrent) onMessage(c *conn, m wire.Message) error {
	switch m.Type {
	case wire.Choke:
		c.ls.peerChoking = true
		t.payerChoked(c) // a choke ends the price in force
		if !c.fast() {
			// Without the fast extension a choke cancels every request implicitly.
			t.releaseAll(c)
		}
	case wire.Unchoke:
		c.ls.peerChoking = false
		t.fillRequests(c)
	case wire.Interested:
		c.ls.peerInterested = true
		t.rechokeSoon()
	case wire.NotInterested:
		c.ls.peerInterested = false
		if !c.ls.amChoking {
			t.rechokeSoon()
		}
	case wire.Have:
		if int(m.Index) >= t.layout.NumPieces {
			return protocolErr("have %d of %d pieces", m.Index, t.layout.NumPieces)
		}
		if c.ls.has.Set(int(m.Index)) {
			if err := t.picker.PeerHave(c.key, int(m.Index)); err != nil {
				return err
			}
		}
		t.payeeHave(c, m.Index) // no more of it goes to the requester: its reservation ends
		if t.superSeeding() {
			t.superOnHave(c, m.Index)
		}
		t.updateInterest(c)
		t.fillRequests(c)
	case wire.Bitfield:
		bf, err := piece.FromBytes(m.Payload, t.layout.NumPieces)
		if err != nil {
			return protocolErr("bitfield: %v", err)
		}
		c.ls.has = bf
		if err := t.picker.PeerBitfield(c.key, bf); err != nil {
			return err
		}
		if t.superSeeding() {
			t.superOnBitfield(c)
		}
		t.updateInterest(c)
		t.fillRequests(c)
	case wire.HaveAll, wire.HaveNone:
		if !c.fast() {
			return protocolErr("%v without the fast extension", m.Type)
		}
		if m.Type == wire.HaveAll {
			c.ls.has.SetAll()
			if err := t.picker.PeerHaveAll(c.key); err != nil {
				return err
			}
		}
		t.updateInterest(c)
		t.fillRequests(c)
	case wire.Request:
		return t.onRequest(c, m)
	case wire.Cancel:
		b := piece.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length}
		if c.cancelUpload(b) {
			t.payeeCancelled(c, m) // never sent: not billed
			if c.fast() {
				// BEP 6: every request gets a piece or a reject, cancelled ones included.
				c.send(wire.Message{Type: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
			}
		}
	case wire.Reject:
		if !c.fast() {
			return protocolErr("reject without the fast extension")
		}
		b := piece.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length}
		c.removeRequested(b)
		t.picker.Release(c.key, b)
		t.fillRequests(c)
	case wire.AllowedFast:
		if int(m.Index) < t.layout.NumPieces {
			if c.ls.allowedFast == nil {
				c.ls.allowedFast = map[uint32]struct{}{}
			}
			if len(c.ls.allowedFast) < 64 {
				c.ls.allowedFast[m.Index] = struct{}{}
				t.picker.PeerAllowedFast(c.key, int(m.Index))
			}
			t.fillRequests(c)
		}
	case wire.Suggest:
		if int(m.Index) < t.layout.NumPieces {
			t.picker.PeerSuggest(c.key, int(m.Index))
		}
	case wire.Extended:
		return t.onExtended(c, m)
	case wire.Port:
		// BEP 5: the peer runs a DHT node there; a ping adds it to our routing table.
		if node := t.s.dht; node != nil && m.Port != 0 {
			ap := netip.AddrPortFrom(c.addr.Addr().Unmap(), m.Port)
			t.s.wg.Add(1)
			go func() {
				defer t.s.wg.Done()
				ctx, cancel := context.WithTimeout(t.s.ctx, 5*time.Second)
				defer cancel()
				node.Ping(ctx, ap)
			}()
		}
	default:
		// Unknown message ids are ignored (BEP 3 says to, and new extensions rely on it).
	}
	return nil
}

func (t *torrent) onRequest(c *conn, m wire.Message) error {
	b := piece.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length}
	if !t.layout.Valid(b) || m.Length > piece.BlockSize*8 {
		return protocolErr("request for invalid block %v", b)
	}
	reject := func() {
		if c.fast() {
			c.send(wire.Message{Type: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
		}
	}
	if !t.picker.Have().Has(int(m.Index)) || (t.superSeeding() && !t.superAllows(c, m.Index)) {
		reject()
		return nil
	}
	if c.ls.amChoking && !t.allowedFastFor(c, m.Index) {
		reject() // a request racing our choke; fast peers are told, others just wait
		return nil
	}
	if int(c.queuedUploads.Load()) >= t.s.settings.MaxPeerRequests {
		reject()
		return nil
	}
	if t.payeeServe(c, m) {
		return nil // held by the exposure bound until the requester pays
	}
	if t.speedOn() {
		t.speed.possession.Uploaded(m.Index, m.Begin, m.Length)
	}
	c.queuedUploads.Add(1)
	c.send(wire.Message{Type: wire.Piece, Index: m.Index, Begin: m.Begin, Length: m.Length})
	return nil
}

// onPieceResult acts on what storing a block did to its piece; c is nil when the connection
// that sent it is already gone.
func (t *torrent) onPieceResult(c *conn, ev event) {
	if ev.err != nil {
		t.s.log.Error("storage write failed", "block", ev.blk, "err", ev.err)
		t.stopWithError(ev.err)
		return
	}
	if !ev.res.pieceDone {
		return
	}
	if ev.res.pieceOK {
		t.pieceVerified(int(ev.blk.Piece))
	} else {
		t.pieceFailed(int(ev.blk.Piece))
	}
}

func (t *torrent) stopWithError(err error) {
	t.closeErr = err
	t.stopOnce.Do(func() { close(t.stopping) })
}

func (t *torrent) pieceVerifiedStats(i int) {
	t.stats.piecesDone.Add(1)
	t.stats.bytesDone.Add(t.layout.PieceSize(i))
}

func (t *torrent) pieceVerified(i int) {
	t.picker.Verified(i)
	t.pieceVerifiedStats(i)
	t.blameVerified(i)
	for _, c := range t.conns {
		// Every peer gets the have, seeds included: a Speed provider needs it.
		c.send(wire.Message{Type: wire.Have, Index: uint32(i)})
	}
	if t.speedOn() {
		// After the have, as the draft orders, and before a connection to a seed may close
		// for completion: the voucher must go out first.
		t.payForPiece(uint32(i))
	}
	for _, c := range t.conns {
		t.updateInterest(c)
	}
	if t.picker.Complete() {
		t.onComplete()
	}
}

func (t *torrent) onComplete() {
	select {
	case <-t.complete:
		return
	default:
	}
	close(t.complete)
	if t.speedOn() {
		t.speed.heldAt = time.Now() // we got it from peers who hold it: the reserve starts at 0
	}
	t.s.log.Info("torrent complete", "infohash", fmt.Sprintf("%x", t.infoHash))
	t.saveResume()
	t.trackerTick(time.Now(), tracker.EventCompleted)
	for _, c := range t.conns {
		t.closeIfBothSeeds(c)
	}
	t.rechokeSoon()
}

// pieceFailed re-queues a piece whose hash did not match and remembers who sent its blocks,
// to strike the liars once the piece verifies (smartban.go).
func (t *torrent) pieceFailed(i int) {
	t.stats.hashFailures.Add(1)
	t.stats.wasted.Add(t.layout.PieceSize(i))
	if t.speedOn() {
		t.forgetPiece(uint32(i)) // never paid
	}
	by := t.picker.Failed(i)
	// The picker dropped every request of the piece; forget them at the connections too, so
	// blocks of the failed attempt still in flight are discarded on arrival.
	for _, c := range t.conns {
		c.removeRequestedPiece(uint32(i))
	}
	t.s.log.Warn("piece failed hash check", "piece", i, "peers", len(by))
	t.blameFailure(i, by)
	for _, c := range t.conns {
		t.fillRequests(c)
	}
}

func (t *torrent) releaseAll(c *conn) {
	t.picker.PeerChoked(c.key)
	c.clearRequested()
}

// updateInterest tells the peer whether we want anything it has.
func (t *torrent) updateInterest(c *conn) {
	c.ls.seed = c.ls.has.All()
	want := t.picker.Interesting(c.key)
	if want != c.ls.amInterested {
		c.ls.amInterested = want
		if want {
			c.send(wire.Message{Type: wire.Interested})
			t.offerBid(c)
		} else {
			c.send(wire.Message{Type: wire.NotInterested})
		}
	}
	t.closeIfBothSeeds(c)
}

// fillRequests tops up the requests outstanding at c to its queue depth.
func (t *torrent) fillRequests(c *conn) {
	if !c.ls.amInterested || t.picker.Complete() {
		return
	}
	choked := c.ls.peerChoking
	if choked && len(c.ls.allowedFast) == 0 {
		return
	}
	depth := t.depth.Depth(c.ls.downRate.perSecond(), c.ls.snubbed)
	if c.ls.ext.reqq > 0 {
		depth = min(depth, c.ls.ext.reqq)
	}
	out := len(t.picker.Outstanding(c.key))
	n := depth - out
	// Top up in batches of at least a quarter of the depth: one write of many requests
	// instead of a wake-up and a system call of the writer for every block received.
	if n <= 0 || (out > 0 && n < depth/4) {
		return
	}
	var blocks []piece.Block
	if choked {
		blocks = t.picker.PickAllowedFast(c.key, n, t.reqBuf[:0])
	} else {
		blocks = t.picker.Pick(c.key, n, t.reqBuf[:0])
	}
	for _, b := range blocks {
		c.addRequested(b)
		c.send(wire.Message{Type: wire.Request, Index: b.Piece, Begin: b.Begin, Length: b.Length})
	}
	t.reqBuf = blocks[:0]
}

// tick runs every second: rates, snubs, stats, dialing.
func (t *torrent) tick() {
	now := time.Now()
	unchoked := 0
	for _, c := range t.conns {
		u, d := c.uploaded.Load(), c.downloaded.Load()
		c.ls.upRate.update(now, u)
		c.ls.downRate.update(now, d)
		if !c.ls.amChoking {
			unchoked++
		}
		if !c.ls.snubbed && t.depth.Snubbed(len(t.picker.Outstanding(c.key)), c.ls.lastBlock, now) {
			c.ls.snubbed = true
			t.releaseAll(c)
			for _, o := range t.conns {
				t.fillRequests(o)
			}
		}
	}
	t.stats.unchoked.Store(int32(unchoked))
	t.speedTick(now)
	t.paymentTick(now)
	t.dhtTick(now)
	t.pexTick(now)
	t.trackerTick(now, tracker.EventNone)
	t.connectMore()
}

// dialRetry is when an address that failed may be dialled again: exponential backoff from
// 2 s, so a peer still starting (Transmission verifies before it listens) is retried soon
// and a dead one costs little. After maxDialFailures it is dropped until re-added.
const maxDialFailures = 8

func dialBackoff(failures int) time.Duration {
	return min(2*time.Second<<min(failures-1, 8), 5*time.Minute)
}

type dialFailure struct {
	n     int
	retry time.Time
}

// connectMore dials known addresses while below the connection limit. A seed dials too:
// peers such as Transmission and aria2 never dial a seed that a user points at them.
func (t *torrent) connectMore() {
	connected := map[netip.AddrPort]bool{}
	for _, c := range t.conns {
		connected[c.addr] = true
	}
	now := time.Now()
	for ap := range t.known {
		if len(t.conns)+len(t.dialing) >= t.s.settings.MaxConnsPerTorrent {
			return
		}
		f := t.failures[ap]
		if connected[ap] || f.n >= maxDialFailures || now.Before(f.retry) || t.s.banned(ap.Addr().Unmap()) {
			continue
		}
		if _, ok := t.dialing[ap]; ok {
			continue
		}
		t.dialing[ap] = struct{}{}
		t.s.wg.Add(1)
		go t.dialOne(ap)
	}
}

func (t *torrent) dialOne(ap netip.AddrPort) {
	defer t.s.wg.Done()
	ctx, cancel := context.WithCancel(t.s.ctx)
	defer cancel()
	go func() {
		select {
		case <-t.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	nc, h, err := t.s.dial(ctx, t, ap)
	t.do(func() {
		delete(t.dialing, ap)
		if err != nil {
			f := t.failures[ap]
			f.n++
			if errors.Is(err, errSelf) {
				f.n = maxDialFailures
			}
			f.retry = time.Now().Add(dialBackoff(f.n))
			t.failures[ap] = f
			t.s.log.Debug("dial failed", "addr", ap, "err", err, "failures", f.n)
			return
		}
		delete(t.failures, ap)
		t.addConn(nc, h, true)
	})
	select {
	case <-t.stopping:
		if nc != nil {
			nc.Close() // the loop is gone and will not adopt it
		}
	default:
	}
}

// rechokeSoon runs a rechoke now when a slot is free, so a new interested peer does not wait
// a whole interval for its first unchoke.
func (t *torrent) rechokeSoon() {
	unchoked := 0
	for _, c := range t.conns {
		if !c.ls.amChoking {
			unchoked++
		}
	}
	if unchoked < t.s.settings.UploadSlots+1 {
		t.rechoke()
	}
}

// rechoke asks the choker who should be unchoked and applies the difference.
func (t *torrent) rechoke() {
	now := time.Now()
	peers := make([]choke.Peer, 0, len(t.conns))
	for _, c := range t.conns {
		waitSince := c.ls.chokedAt
		if waitSince.IsZero() {
			waitSince = c.ls.connectedAt
		}
		if !c.ls.amChoking {
			// A peer we serve is not waiting: among peers that take data equally (a seed's
			// zero-rate peers, say, ones that never read or never ask), the choked ones get
			// their turn, so such peers cannot sit on the slots.
			waitSince = now
		}
		peers = append(peers, choke.Peer{
			Key:          uint64(c.key),
			Interested:   c.ls.peerInterested,
			Choked:       c.ls.amChoking,
			Snubbed:      c.ls.snubbed,
			DownloadRate: int64(c.ls.downRate.perSecond()),
			UploadRate:   int64(c.ls.upRate.perSecond()),
			Waiting:      now.Sub(waitSince),
			Connected:    now.Sub(c.ls.connectedAt),
		})
		t.speedChokeInput(c, &peers[len(peers)-1])
	}
	cfg := choke.DefaultConfig()
	cfg.RegularSlots = t.s.settings.UploadSlots
	cfg.Seed = t.picker.Complete()
	cfg.ReciprocationSlots = t.s.settings.ReciprocationSlots
	if t.speedOn() && t.speed.eff.Auction {
		cfg.Auction = true
		cfg.Reserve = t.reserveInForce(now)
	}
	res := choke.Rank(peers, cfg, &t.choker)
	for _, c := range t.conns {
		slot, unchoke := res.Find(uint64(c.key))
		switch {
		case unchoke:
			t.setSendWeight(c, slot.Kind)
			t.applySlot(c, slot, now)
		case !c.ls.amChoking:
			t.chokePeer(c, now)
		}
	}
}

// setSendWeight gives c its share of the upload: an auction winner weighs
// Settings.PaidSendWeight, any other slot 1 (docs/bep-speed.md, "What a paid slot buys").
func (t *torrent) setSendWeight(c *conn, k choke.Kind) {
	w := 1.0
	if k == choke.Auction {
		w = float64(t.s.settings.PaidSendWeight)
	}
	if t.s.sched != nil && c.flow.weight != w {
		t.s.sched.setWeight(&c.flow, w)
	}
}

// chokePeer chokes c and drops its queued uploads (rejecting them for fast peers, who are
// told; others re-request after the next unchoke, as BEP 3 says).
func (t *torrent) chokePeer(c *conn, now time.Time) {
	c.ls.amChoking = true
	c.ls.chokedAt = now
	c.send(wire.Message{Type: wire.Choke})
	dropped := c.dropUploads()
	// The paid terms end; requests the exposure bound held are rejected like the dropped ones.
	for _, m := range t.payeeChoked(c, dropped) {
		if c.fast() {
			c.send(wire.Message{Type: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
		}
	}
	for _, b := range dropped {
		if c.fast() {
			c.send(wire.Message{Type: wire.Reject, Index: b.Piece, Begin: b.Begin, Length: b.Length})
		}
	}
}
