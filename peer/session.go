package peer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/dht"
	"github.com/speedbt/btt/peer/mse"
	"github.com/speedbt/btt/peer/tracker"
	"github.com/speedbt/btt/peer/utp"
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/storage"
	"github.com/speedbt/btt/wire"
)

// Config configures a Session.
type Config struct {
	// Listen is the TCP address to accept peers on ("127.0.0.1:6881"); empty means do not
	// listen (a download-only session still works: it dials).
	Listen string
	// PeerID is our 20-byte peer id; zero means a random one with our client prefix.
	PeerID [20]byte
	// Settings are the tunables; zero fields take defaults.
	Settings Settings
	// Logger receives connection and torrent events; nil discards them.
	Logger *slog.Logger
	// Speed configures the token market; off unless Speed.Enabled.
	Speed SpeedConfig
	// Transport chooses TCP, uTP or both (the default).
	Transport Transport
	// DHT configures the session's DHT node; off unless DHT.Enabled.
	DHT DHTConfig
	// Encryption is the MSE/PE policy for every connection (see encryption.go); the zero
	// value is mse.Off, a plaintext wire.
	Encryption mse.Policy
	// StateDir holds state that must survive a restart: with Speed and a wallet, the
	// vouchers requesters paid us until the ledger confirms their settlement
	// (vouchers-ADDRESS.log). Empty keeps them in memory only: a crash then loses them.
	StateDir string
}

// Session owns a listener, the torrents it serves and their connections.
type Session struct {
	settings Settings
	peerID   [20]byte
	log      *slog.Logger
	ln       net.Listener
	blocks   *blockPool
	pool     *storage.BufferPool // shared by every torrent's storage
	sched    *sendScheduler      // shares the upload by weight; nil only in benchmarks of the plain path
	dlimit   *readLimiter        // the session's download limit (downlimit.go)
	localIP  netip.Addr          // the specific listen address dials leave from; zero: any
	speed    SpeedConfig
	pay      *sessionPay   // the provider's Book, voucher log and settlements (settle.go)
	spend    *sessionSpend // the requester's budget (spend.go)

	encryption mse.Policy

	transport    Transport
	udp          *net.UDPConn // shared by uTP and the DHT; nil when neither is on
	utp          *utp.Socket
	dht          *dht.Node
	dhtRecv      atomic.Pointer[dht.Node] // the node the uTP socket's reader hands DHT packets to
	dhtStateFile string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	halfOpen chan struct{} // dial semaphore
	conns    atomic.Int32

	// mu guards the torrent registry and the ban list. It is held only for map lookups,
	// never across I/O or a torrent loop's work.
	mu       sync.Mutex
	torrents map[[20]byte]*Torrent
	bans     map[netip.Addr]time.Time
	ledgers  map[string]*ledger.Client // by URL

	// payers verifies the vouchers of every requester we serve: half the cost of a plain
	// verification for any payer, a fifth once a payer's key has its precomputed table
	// (KeyCache.TableAfter vouchers).
	payers *channel.KeyCache

	trackerClient *tracker.Client // shared: it caches UDP connection ids per tracker
	announces     announcePacer   // spaces the torrents' regular announces
}

// PeerIDPrefix is our Azureus-style client prefix.
const PeerIDPrefix = "-BT0100-"

// NewSession starts a session: it begins accepting connections at once if cfg.Listen is set.
func NewSession(cfg Config) (*Session, error) {
	s := &Session{
		settings:      cfg.Settings.withDefaults(),
		peerID:        cfg.PeerID,
		log:           cfg.Logger,
		blocks:        newBlockPool(),
		pool:          new(storage.BufferPool),
		speed:         cfg.Speed,
		trackerClient: new(tracker.Client),
		transport:     cfg.Transport,
		encryption:    cfg.Encryption,
		torrents:      map[[20]byte]*Torrent{},
		bans:          map[netip.Addr]time.Time{},
		payers:        channel.NewKeyCache(1024, 32),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.peerID == [20]byte{} {
		copy(s.peerID[:], PeerIDPrefix)
		rand.Read(s.peerID[len(PeerIDPrefix):])
	}
	s.startSpend()
	if err := s.startPay(cfg.StateDir); err != nil {
		return nil, err
	}
	s.halfOpen = make(chan struct{}, s.settings.MaxHalfOpen)
	s.sched = newSendScheduler(s.settings.UploadRateLimit, s.settings.SendHold)
	s.dlimit = newReadLimiter(s.settings.DownloadRateLimit)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.Listen != "" {
		if err := s.listen(cfg); err != nil {
			s.cancel()
			return nil, err
		}
	} else if cfg.DHT.Enabled || s.transport.utp() {
		// A dial-only session still needs a UDP socket for uTP dials and the DHT.
		if err := s.startUDP(cfg, &net.TCPAddr{}); err != nil {
			s.cancel()
			return nil, err
		}
	}
	return s, nil
}

// listen opens the TCP listener and the UDP socket on the same address and port. When the
// port is left to the kernel, the UDP port may be taken: pick again a few times.
func (s *Session) listen(cfg Config) error {
	want, err := net.ResolveTCPAddr("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("peer: listen address: %w", err)
	}
	// A specific listen address is also where dials and announces leave from (libtorrent's
	// outgoing_interfaces): peers and trackers then see the address we listen on.
	if ip, ok := netip.AddrFromSlice(want.IP); ok && !ip.IsUnspecified() {
		s.localIP = ip.Unmap()
		s.trackerClient.LocalAddr = s.localIP
	}
	for try := 0; ; try++ {
		addr := want
		if s.transport.tcp() {
			ln, err := net.ListenTCP("tcp", want)
			if err != nil {
				return fmt.Errorf("peer: listen: %w", err)
			}
			s.ln = ln
			addr = ln.Addr().(*net.TCPAddr)
		}
		err := s.startUDP(cfg, addr)
		if err == nil {
			break
		}
		if s.ln != nil {
			s.ln.Close()
			s.ln = nil
		}
		if want.Port != 0 || try == 4 {
			return err
		}
	}
	if s.ln != nil {
		s.wg.Add(1)
		go s.acceptLoop()
	}
	return nil
}

// Addr is the listening address (TCP, or UDP for a uTP-only session), or nil.
func (s *Session) Addr() net.Addr {
	switch {
	case s.ln != nil:
		return s.ln.Addr()
	case s.utp != nil:
		return s.utp.Addr()
	}
	return nil
}

// listenPort is the port peers reach us on, 0 when we do not listen.
func (s *Session) listenPort() int {
	if a := s.Addr(); a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return int(ap.Port())
		}
	}
	return 0
}

// PeerID returns our peer id.
func (s *Session) PeerID() [20]byte { return s.peerID }

// Close stops every torrent, closes every connection and the listener, and waits for all
// goroutines to end.
func (s *Session) Close() error {
	s.cancel()
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Lock()
	ts := make([]*Torrent, 0, len(s.torrents))
	for _, t := range s.torrents {
		ts = append(ts, t)
	}
	s.mu.Unlock()
	var errs []error
	for _, t := range ts {
		errs = append(errs, t.Close())
	}
	s.closeUDP()
	s.wg.Wait()
	s.closePay()
	if s.sched != nil {
		s.sched.stop()
	}
	return errors.Join(errs...)
}

func (s *Session) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: back off instead of spinning.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || delay < time.Second {
				delay = max(5*time.Millisecond, min(2*delay, time.Second))
				time.Sleep(delay)
				continue
			}
			s.log.Error("accept", "err", err)
			return
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleIncoming(nc)
		}()
	}
}

func (s *Session) banned(a netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.bans[a]
	if ok && time.Now().After(until) {
		delete(s.bans, a)
		return false
	}
	return ok
}

// ban refuses an address for the configured period and reports it.
func (s *Session) ban(a netip.Addr, why string) {
	s.mu.Lock()
	s.bans[a.Unmap()] = time.Now().Add(s.settings.BanDuration)
	s.mu.Unlock()
	s.log.Warn("banned peer", "addr", a, "why", why)
}

func (s *Session) lookup(ih [20]byte) *Torrent {
	s.mu.Lock()
	defer s.mu.Unlock()
	if T := s.torrents[ih]; T != nil {
		return T
	}
	return s.lookupV2(ih)
}

func remoteAddr(nc net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(nc.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// handleIncoming answers a peer's handshake once it names a torrent we serve.
func (s *Session) handleIncoming(nc net.Conn) {
	if s.banned(remoteAddr(nc)) || int(s.conns.Load()) >= s.settings.MaxConns {
		nc.Close()
		return
	}
	nc.SetDeadline(time.Now().Add(s.settings.HandshakeTimeout))
	pc, h, err := s.readIncomingHead(nc)
	if err != nil {
		s.log.Debug("incoming handshake", "addr", nc.RemoteAddr(), "err", err)
		nc.Close()
		return
	}
	nc = pc
	t := s.lookup(h.InfoHash)
	if t == nil {
		nc.Close()
		return
	}
	if err := wire.WriteHandshake(nc, s.ourHandshake(answerHash(t.t.info, h))); err != nil {
		nc.Close()
		return
	}
	if h.PeerID, err = wire.ReadPeerID(nc); err != nil {
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	t.t.adopt(nc, h, false)
}

func (s *Session) ourHandshake(ih [20]byte) wire.Handshake {
	h := wire.Handshake{InfoHash: ih, PeerID: s.peerID}
	h.Reserved.SetFast(true)
	h.Reserved.SetExtended(true)
	h.Reserved.SetDHT(s.dht != nil)
	if T := s.lookup(ih); T != nil {
		h.Reserved.SetV2(isV2(T.t.info))
	}
	return h
}

// dial connects to addr for the torrent ih and completes the BitTorrent handshake, bounded
// by the half-open limit and the dial timeout: the one dial of the session, for torrents
// and for the metadata fetch of a magnet link. A banned address is not dialled.
func (s *Session) dial(ctx context.Context, ih [20]byte, addr netip.AddrPort) (net.Conn, wire.Handshake, error) {
	if s.banned(addr.Addr().Unmap()) {
		return nil, wire.Handshake{}, fmt.Errorf("peer: %v is banned", addr)
	}
	select {
	case s.halfOpen <- struct{}{}:
	case <-ctx.Done():
		return nil, wire.Handshake{}, ctx.Err()
	}
	defer func() { <-s.halfOpen }()
	ctx, cancel := context.WithTimeout(ctx, s.settings.DialTimeout)
	defer cancel()
	nc, err := s.connect(ctx, addr, ih)
	if err != nil {
		return nil, wire.Handshake{}, err
	}
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	if err := wire.WriteHandshake(nc, s.ourHandshake(ih)); err != nil {
		nc.Close()
		return nil, wire.Handshake{}, err
	}
	h, err := wire.ReadHandshake(nc)
	if err != nil {
		nc.Close()
		return nil, wire.Handshake{}, err
	}
	if !s.sameTorrent(ih, h.InfoHash) {
		nc.Close()
		return nil, wire.Handshake{}, fmt.Errorf("peer: %v answered for another torrent", addr)
	}
	if h.PeerID == s.peerID {
		nc.Close()
		return nil, wire.Handshake{}, errSelf
	}
	nc.SetDeadline(time.Time{})
	return nc, h, nil
}

var errSelf = errors.New("peer: connected to ourselves")

// blockPool recycles 16 KiB block buffers between readers and storage.
type blockPool struct{ p sync.Pool }

func newBlockPool() *blockPool {
	return &blockPool{p: sync.Pool{New: func() any { return new([piece.BlockSize]byte) }}}
}

func (bp *blockPool) Get() []byte { return bp.p.Get().(*[piece.BlockSize]byte)[:] }
func (bp *blockPool) Put(b []byte) {
	bp.p.Put((*[piece.BlockSize]byte)(b[:piece.BlockSize:piece.BlockSize]))
}
