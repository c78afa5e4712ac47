package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/speedbt/btt/dht"
	"github.com/speedbt/btt/peer/utp"
)

// Transport says how a session reaches peers and accepts them.
type Transport uint8

const (
	// TransportBoth accepts TCP and uTP, and dials uTP first, falling back to TCP, as
	// mainstream clients do: uTP yields to other traffic on the user's link (LEDBAT).
	TransportBoth Transport = iota
	// TransportTCP uses TCP only.
	TransportTCP
	// TransportUTP uses uTP only.
	TransportUTP
)

// ParseTransport reads "tcp", "utp" or "both".
func ParseTransport(s string) (Transport, error) {
	switch s {
	case "both", "":
		return TransportBoth, nil
	case "tcp":
		return TransportTCP, nil
	case "utp":
		return TransportUTP, nil
	}
	return 0, fmt.Errorf("peer: transport %q is not tcp, utp or both", s)
}

func (tr Transport) tcp() bool { return tr != TransportUTP }
func (tr Transport) utp() bool { return tr != TransportTCP }

// DHTConfig turns on the session's DHT node (BEP 5). It listens on UDP at the session's
// listen address, the port uTP shares.
type DHTConfig struct {
	Enabled bool
	// Nodes are "host:port" nodes to bootstrap from. With none the node starts alone and
	// waits to be found; no built-in internet host is ever contacted.
	Nodes []string
	// StateFile keeps the node id and routing table across restarts ("" for none).
	StateFile string
}

// utpDialTimeout bounds the uTP attempt of a dial before falling back to TCP: a peer
// without uTP never answers the SYN.
const utpDialTimeout = 3 * time.Second

// startUDP opens the UDP socket at the listen address and puts uTP and the DHT on it.
func (s *Session) startUDP(cfg Config, tcpAddr *net.TCPAddr) error {
	if !s.transport.utp() && !cfg.DHT.Enabled {
		return nil
	}
	ua := &net.UDPAddr{IP: tcpAddr.IP, Port: tcpAddr.Port, Zone: tcpAddr.Zone}
	uc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("peer: udp listen: %w", err)
	}
	s.udp = uc
	var send func([]byte, netip.AddrPort) error
	if s.transport.utp() {
		// The socket's reader starts before the DHT node exists; it reads the node through
		// an atomic pointer set once the node is made.
		sock, err := utp.NewSocket(uc, utp.Config{Unhandled: func(b []byte, from net.Addr) {
			if n := s.dhtRecv.Load(); n != nil {
				n.HandleFrom(b, from)
			}
		}})
		if err != nil {
			uc.Close()
			return err
		}
		s.utp = sock
		send = dht.SendVia(sock)
		s.wg.Add(1)
		go s.acceptUTP()
	} else {
		send = dht.UDPSender(uc)
	}
	if cfg.DHT.Enabled {
		if err := s.startDHT(cfg.DHT, send); err != nil {
			s.closeUDP()
			return err
		}
	}
	return nil
}

func (s *Session) startDHT(cfg DHTConfig, send func([]byte, netip.AddrPort) error) error {
	dc := dht.Config{Send: send}
	if cfg.StateFile != "" {
		if st, err := dht.ReadStateFile(cfg.StateFile); err == nil {
			dc.State = st
		}
	}
	node, err := dht.New(dc)
	if err != nil {
		return err
	}
	s.dht = node
	s.dhtRecv.Store(node)
	s.dhtStateFile = cfg.StateFile
	if s.utp == nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			node.Serve(s.ctx, s.udp)
		}()
	}
	var boot []netip.AddrPort
	for _, a := range cfg.Nodes {
		ap, err := resolveAddrPort(a)
		if err != nil {
			return err
		}
		boot = append(boot, ap)
	}
	s.wg.Add(1)
	go s.watchDHTTable(node)
	if len(boot) > 0 || dc.State != nil {
		node.BootstrapAsync(boot, func(err error) {
			if err != nil {
				s.log.Info("dht bootstrap", "err", err)
			}
		})
	}
	return nil
}

// utpHandshakesInFlight bounds the incoming uTP connections in their handshake at once
// (one goroutine each). A flood of SYNs, whose half-open connections the socket evicts as
// fast as they come, would otherwise start goroutines faster than the evicted ones exit;
// beyond the bound, connections wait in the socket's backlog (utp.Config.Backlog).
const utpHandshakesInFlight = 64

func (s *Session) acceptUTP() {
	defer s.wg.Done()
	slots := make(chan struct{}, utpHandshakesInFlight)
	for {
		select {
		case slots <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		nc, err := s.utp.Accept()
		if err != nil {
			return // the socket closed
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-slots }()
			s.handleIncoming(nc)
		}()
	}
}

func (s *Session) closeUDP() {
	if s.dht != nil {
		if s.dhtStateFile != "" {
			os.MkdirAll(filepath.Dir(s.dhtStateFile), 0o755)
			if err := dht.WriteStateFile(s.dhtStateFile, s.dht.State()); err != nil {
				s.log.Warn("saving dht state", "err", err)
			}
		}
		s.dht.Close()
	}
	if s.utp != nil {
		s.utp.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
}

// dialTransport connects to addr: uTP first when both are on, then TCP.
func (s *Session) dialTransport(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	var utpErr error
	if s.transport.utp() && s.utp != nil {
		uctx := ctx
		if s.transport.tcp() {
			var cancel context.CancelFunc
			uctx, cancel = context.WithTimeout(ctx, utpDialTimeout)
			defer cancel()
		}
		nc, err := s.utp.DialContext(uctx, addr.String())
		if err == nil {
			return nc, nil
		}
		utpErr = err
		if !s.transport.tcp() || ctx.Err() != nil {
			return nil, err
		}
	}
	var d net.Dialer
	if s.localIP.IsValid() && s.localIP.Is4() == addr.Addr().Unmap().Is4() {
		d.LocalAddr = &net.TCPAddr{IP: s.localIP.AsSlice(), Zone: s.localIP.Zone()}
	}
	nc, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil && utpErr != nil {
		return nil, errors.Join(utpErr, err)
	}
	return nc, err
}

// dhtInterval is how often a torrent asks the DHT for peers: often while it has few peers
// and is downloading, rarely once it has enough or is seeding (announces last 30 minutes).
func (t *torrent) dhtInterval() time.Duration {
	if !t.picker.Complete() && len(t.conns) < 5 {
		return 15 * time.Second
	}
	return 5 * time.Minute
}

// dhtTick looks up peers for the torrent and announces it, off the loop. A lookup that
// reached nobody (or, while downloading, found no peer) is retried soon, not after the full
// interval (dhtRetry), and the first nodes in an empty routing table trigger a lookup at once
// (watchDHTTable).
func (t *torrent) dhtTick(now time.Time) {
	node := t.s.dht
	if node == nil || t.info.Private || t.dhtBusy || now.Before(t.dhtNext) {
		return
	}
	t.dhtBusy = true
	interval := t.dhtInterval()
	t.dhtNext = now.Add(interval)
	complete := t.picker.Complete()
	port := t.s.listenPort()
	ih := dht.ID(t.infoHash)
	self := t.s.dhtSelf()
	t.s.wg.Add(1)
	go func() {
		defer t.s.wg.Done()
		ctx, cancel := context.WithTimeout(t.s.ctx, 30*time.Second)
		defer cancel()
		if self.IsValid() {
			node.AddLocalPeer(ih, self)
		}
		peers, err := node.GetPeers(ctx, ih)
		peers = slices.DeleteFunc(peers, func(ap netip.AddrPort) bool { return ap == self })
		var aerr error
		if port != 0 {
			_, aerr = node.Announce(ctx, ih, port)
		}
		t.do(func() {
			t.dhtBusy = false
			if err != nil {
				t.s.log.Debug("dht get_peers", "err", err)
			}
			if aerr != nil {
				t.s.log.Debug("dht announce", "err", aerr)
			}
			if aerr != nil || (!complete && len(peers) == 0) {
				t.dhtFail++
				t.dhtNext = time.Now().Add(dhtRetry(t.dhtFail, interval))
			} else {
				t.dhtFail = 0
			}
			t.learn(fromDHT, peers)
			if len(peers) > 0 {
				t.s.log.Info("dht found peers", "n", len(peers))
				t.connectMore()
			}
		})
	}()
}
