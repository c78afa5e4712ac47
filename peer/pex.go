package peer

import (
	"net/netip"
	"time"

	"github.com/speedbt/btt/peer/mse"
	"github.com/speedbt/btt/peer/utp"
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

// extIDPEX is the extended message id under which we receive BEP 11 ut_pex (the id
// libtorrent uses too).
const extIDPEX = 1

// pexState is a torrent's peer exchange bookkeeping, owned by the loop.
type pexState struct {
	peers map[piece.PeerKey]*pexPeer
}

// pexPeer is what PEX remembers of one connection.
type pexPeer struct {
	port   uint16                      // its listen port from its extended handshake ("p")
	sentAt time.Time                   // when we last sent it ut_pex (or connected)
	recvAt time.Time                   // when it last sent us ut_pex
	told   map[netip.AddrPort]struct{} // the peers we told it are connected
}

func (t *torrent) pexOn() bool { return !t.info.Private } // BEP 27: no PEX for private torrents

func (t *torrent) pexPeer(c *conn) *pexPeer {
	if t.pex.peers == nil {
		t.pex.peers = map[piece.PeerKey]*pexPeer{}
	}
	p := t.pex.peers[c.key]
	if p == nil {
		p = &pexPeer{sentAt: c.ls.connectedAt, told: map[netip.AddrPort]struct{}{}}
		t.pex.peers[c.key] = p
	}
	return p
}

// pexHandshake remembers the listen port a peer's extended handshake gave: for a peer
// that dialled us, it is the only way to know where others can reach it.
func (t *torrent) pexHandshake(c *conn, h wire.ExtendedHandshake) {
	if h.P != 0 {
		t.pexPeer(c).port = uint16(h.P)
	}
}

// pexListenAddr is where c accepts connections, if we know it: the address we dialled,
// or its IP with the port it announced.
func (t *torrent) pexListenAddr(c *conn) (netip.AddrPort, bool) {
	if _, ok := c.nc.(*webSeedConn); ok {
		return netip.AddrPort{}, false // an HTTP server, not a BitTorrent peer
	}
	a := netip.AddrPortFrom(c.addr.Addr().Unmap(), c.addr.Port())
	if c.outgoing {
		return a, true
	}
	if p := t.pex.peers[c.key]; p != nil && p.port != 0 {
		return netip.AddrPortFrom(a.Addr(), p.port), true
	}
	return netip.AddrPort{}, false
}

// pexFlags are the BEP 11 flags we can vouch for about c.
func pexFlags(c *conn) byte {
	var f byte
	if c.ls.seed {
		f |= wire.PEXSeed
	}
	if c.outgoing {
		f |= wire.PEXReachable
	}
	nc := c.nc
	if ec, ok := nc.(*mse.Conn); ok {
		if ec.Encrypted() {
			f |= wire.PEXEncryption // it agreed to RC4 with us
		}
		nc = ec.NetConn() // MSE over uTP is still uTP
	}
	if _, ok := nc.(*utp.Conn); ok {
		f |= wire.PEXUTP
	}
	return f
}

// pexTick sends each PEX-capable peer, at most once per PEXInterval, the listen addresses
// of the peers that connected and disconnected since it last heard from us.
func (t *torrent) pexTick(now time.Time) {
	for k := range t.pex.peers {
		if t.conns[k] == nil {
			delete(t.pex.peers, k)
		}
	}
	if !t.pexOn() {
		return
	}
	var current map[netip.AddrPort]byte // built only when someone is due
	for _, c := range t.conns {
		id := c.ls.ext.pex
		if id == 0 {
			continue
		}
		p := t.pexPeer(c)
		if now.Sub(p.sentAt) < t.s.settings.PEXInterval {
			continue
		}
		if current == nil {
			current = make(map[netip.AddrPort]byte, len(t.conns))
			for _, o := range t.conns {
				if a, ok := t.pexListenAddr(o); ok {
					current[a] = pexFlags(o)
				}
			}
		}
		self, _ := t.pexListenAddr(c)
		msg := pexDiff(p.told, current, self)
		p.sentAt = now
		if msg.Added == nil && msg.Added6 == nil && msg.Dropped == nil && msg.Dropped6 == nil {
			continue
		}
		c.send(wire.Message{Type: wire.Extended, ExtID: id, Payload: wire.AppendPEX(nil, msg)})
	}
}

// pexDiff returns the ut_pex message that brings a peer told about the addresses in told
// up to current, leaving out self (the peer's own address), and updates told to what the
// message says. Each list holds at most wire.MaxPEXPeers entries; the rest wait for the
// next message. Lists with nothing to say are nil.
func pexDiff(told map[netip.AddrPort]struct{}, current map[netip.AddrPort]byte, self netip.AddrPort) wire.PEX {
	var msg wire.PEX
	for a, flags := range current {
		if _, ok := told[a]; ok || a == self {
			continue
		}
		list := &msg.Added
		if !a.Addr().Is4() {
			list = &msg.Added6
		}
		if len(*list) < wire.MaxPEXPeers {
			*list = append(*list, wire.PEXPeer{Addr: a, Flags: flags})
			told[a] = struct{}{}
		}
	}
	for a := range told {
		if _, ok := current[a]; ok && a != self {
			continue
		}
		list := &msg.Dropped
		if !a.Addr().Is4() {
			list = &msg.Dropped6
		}
		if len(*list) < wire.MaxPEXPeers {
			*list = append(*list, a)
			delete(told, a)
		}
	}
	return msg
}

// onPEX learns addresses from a peer's ut_pex message and dials them.
func (t *torrent) onPEX(c *conn, payload []byte) error {
	if !t.pexOn() {
		return nil // we did not advertise ut_pex: ignore, as for any unknown extension
	}
	msg, err := wire.ParsePEX(payload)
	if err != nil {
		return protocolErr("ut_pex: %v", err)
	}
	// BEP 11 allows one message a minute; one that comes much sooner is ignored, so a
	// chatty peer cannot make us churn through addresses.
	p := t.pexPeer(c)
	now := time.Now()
	if !p.recvAt.IsZero() && now.Sub(p.recvAt) < t.s.settings.PEXInterval/2 {
		return nil
	}
	p.recvAt = now
	var aps []netip.AddrPort
	for _, list := range [][]wire.PEXPeer{msg.Added, msg.Added6} {
		for _, pp := range list {
			aps = append(aps, pp.Addr)
		}
	}
	if added := t.learn(fromPEX, aps); added > 0 {
		t.s.log.Debug("pex: learned peers", "from", c, "n", added)
		t.connectMore()
	}
	return nil
}
