package peer

import (
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
	// DownloadRateLimit caps the torrent's download in payload bytes per second besides the
	// session's (0: none); Torrent.SetDownloadRateLimit changes it at run time.
	DownloadRateLimit int64
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
	HashesServed       int // BEP 52 hash requests answered with hashes
	BlocksBlamedByTree int // blocks of failed v2 pieces found bad by their block hashes
	PadBlocks          int // blocks wholly in padding, taken as zeros without asking a peer (pad.go)
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

	// Choke rounds: rechokes run on the rechoke timer (the event-driven fillSlots, which only
	// hands out free slots, is not a round), the peers they left unchoked summed over rounds,
	// and the peers the last round left unchoked.
	ChokeRounds        int
	ChokeRoundUnchokes int64
	LastRoundUnchoked  int

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
		Pieces:             t.layout.NumPieces,
		PiecesDone:         int(t.stats.piecesDone.Load()),
		Length:             t.layout.TotalLength,
		BytesDone:          t.stats.bytesDone.Load(),
		Downloaded:         t.stats.downloaded.Load(),
		Uploaded:           t.stats.uploaded.Load(),
		Wasted:             t.stats.wasted.Load(),
		HashFailures:       int(t.stats.hashFailures.Load()),
		HashesServed:       int(t.stats.hashesServed.Load()),
		BlocksBlamedByTree: int(t.stats.treeBlamed.Load()),
		PadBlocks:          int(t.stats.padBlocks.Load()),
		Peers:              int(t.stats.peers.Load()),
		Unchoked:           int(t.stats.unchoked.Load()),
		Banned:             int(t.stats.banned.Load()),
		RecheckedPieces:    t.recheckedPieces,
		BidsReceived:       int(t.stats.bids.Load()),
		AuctionUnchokes:    int(t.stats.auctionUnchokes.Load()),
		SourceProofs:       int(t.stats.proofs.Load()),
		BadProofs:          int(t.stats.badProofs.Load()),

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

		ChokeRounds:        int(t.stats.chokeRounds.Load()),
		ChokeRoundUnchokes: t.stats.roundUnchokes.Load(),
		LastRoundUnchoked:  int(t.stats.lastRoundUnchoked.Load()),
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
		T.t.learn(fromUser, aps) // a failed address named again is tried at once
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
	dlimit   *readLimiter // the torrent's own download limit (downlimit.go)

	v2             []storage.V2Piece      // each piece's merkle check; nil for v1 (v2.go)
	hashTrees      map[[32]byte]*fileTree // files whose hash requests we answer (hashserve.go)
	blockHashAsks  map[int]blockHashAsk   // failed pieces whose block hashes we asked for (v2blame.go)
	blockHashWants map[int]*blockHashWant // failed v2 pieces waiting for their block hashes (v2blame.go)

	events   chan event // nil while idle (idle.go)
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
	diskBusy int // blocks handed to the disk workers whose evBlock has not come back
	nextKey  piece.PeerKey
	known    map[netip.AddrPort]peerSource // addresses we may dial, at most maxKnownPeers (learn.go)
	dialing  map[netip.AddrPort]struct{}
	failures map[netip.AddrPort]dialFailure
	blame    piece.Blame[netip.Addr] // strikes for corrupt data, by address (smartban.go)
	failedBy map[int][]failedAttempt // who sent the blocks of failed pieces (smartban.go)
	choker   choke.State             // the optimistic rotation, kept between rechokes (choking.go)
	chokeCfg choke.Config            // built once by newChokeConfig

	recheckedPieces int
	pad             *padMap // blocks of padding alone, never requested (pad.go)
	stats           struct {
		piecesDone, bytesDone, downloaded, uploaded, wasted, hashFailures atomic.Int64
		hashesServed, treeBlamed, padBlocks                               atomic.Int64
		peers, unchoked, banned                                           atomic.Int32
		bids, auctionUnchokes, proofs, badProofs                          atomic.Int64
		trackerAnnounces, claimDisconnects                                atomic.Int64
		closes                                                            [numCloseReasons]atomic.Int64 // by CloseReason
		spent, promised, vouchersSent, paymentAcks, channelsOpened        atomic.Int64
		earned, vouchersAccepted, paymentFailures, withdrawals            atomic.Int64
		chokeRounds, roundUnchokes, lastRoundUnchoked                     atomic.Int64
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
	announceAt time.Time          // the session's slot for the regular announce due, once taken
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
		dlimit:   newReadLimiter(opts.DownloadRateLimit),
		cmds:     make(chan func(), 64),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
		complete: make(chan struct{}),
		conns:    map[piece.PeerKey]*conn{},
		known:    map[netip.AddrPort]peerSource{},
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
	t.chokeCfg = t.newChokeConfig()
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
	var peers []netip.AddrPort
	for _, a := range opts.Peers {
		ap, err := resolveAddrPort(a)
		if err != nil {
			t.store.Close()
			return nil, err
		}
		peers = append(peers, ap)
	}
	t.learn(fromUser, peers) // dialled when the loop starts

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
	s.wg.Add(1)
	go t.run()
	if !complete {
		t.startWebSeeds(info, opts.WebSeeds)
	}
	return T, nil
}
