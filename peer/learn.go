package peer

import (
	"net/netip"

	"github.com/speedbt/btt/wire"
)

// peerSource says where an address to dial came from.
type peerSource uint8

const (
	// fromUser: AddPeers and TorrentOptions.Peers, which carry a magnet link's x.pe and the
	// peers that gave its metadata too.
	fromUser peerSource = iota + 1
	fromTracker
	fromDHT
	fromPEX
	// fromIncoming: the listen address a peer that dialled us gave in its extended handshake.
	fromIncoming
)

func (s peerSource) String() string {
	switch s {
	case fromUser:
		return "user"
	case fromTracker:
		return "tracker"
	case fromDHT:
		return "dht"
	case fromPEX:
		return "pex"
	case fromIncoming:
		return "incoming"
	}
	return "unknown"
}

// maxKnownPeers bounds the addresses a torrent keeps to dial, whatever its sources say, so
// a tracker, a DHT node or a PEX peer flooding us with addresses costs nothing
// (docs/INVARIANTS.md).
const maxKnownPeers = 1000

// learn adds addresses from src to those the torrent may dial; every source goes through it.
// Addresses no peer can listen on are dropped. At the bound, addresses that failed every
// dial we allowed them are forgotten first; then an address the user named takes the place
// of one learned elsewhere, and any other address is dropped. The user naming an address
// again clears its failures, so it is tried at once. learn returns how many addresses were
// new; the caller dials (connectMore) once the loop runs.
func (t *torrent) learn(src peerSource, addrs []netip.AddrPort) int {
	added := 0
	pruned := false
	for _, ap := range addrs {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if !dialable(ap) {
			continue
		}
		if src == fromUser {
			delete(t.failures, ap)
		}
		if old, ok := t.known[ap]; ok {
			if src == fromUser && old != fromUser {
				t.known[ap] = fromUser // the user's now: not evicted for another source's
			}
			continue
		}
		if len(t.known) >= maxKnownPeers && !pruned {
			t.pruneKnown()
			pruned = true
		}
		if len(t.known) >= maxKnownPeers && (src != fromUser || !t.evictLearned()) {
			continue
		}
		t.known[ap] = src
		added++
	}
	return added
}

// dialable rejects addresses no peer can listen on.
func dialable(a netip.AddrPort) bool {
	ip := a.Addr()
	return a.Port() != 0 && ip.IsValid() && !ip.IsUnspecified() && !ip.IsMulticast() && ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// pruneKnown forgets addresses that failed every dial we allowed them, so that a torrent that
// has met many dead peers still has room for new ones.
func (t *torrent) pruneKnown() {
	for ap := range t.known {
		if t.failures[ap].n >= maxDialFailures {
			t.forgetKnown(ap)
		}
	}
}

// evictLearned forgets one address not named by the user and not being dialled, to make
// room for one the user names; it reports whether there was one.
func (t *torrent) evictLearned() bool {
	for ap, src := range t.known {
		if _, busy := t.dialing[ap]; src != fromUser && !busy {
			t.forgetKnown(ap)
			return true
		}
	}
	return false
}

func (t *torrent) forgetKnown(ap netip.AddrPort) {
	delete(t.known, ap)
	delete(t.failures, ap)
	delete(t.claims, ap.Addr())
}

// forgetSeed forgets where a seed (or an upload-only peer) listens once its connection to
// us, a seed too, is gone (whichever side closed it): dialling it again would only close again, and as a dial that
// succeeds clears the address's failures, it would be dialled every tick.
func (t *torrent) forgetSeed(c *conn) {
	if la, ok := t.pexListenAddr(c); ok {
		t.forgetKnown(la)
	}
}

// learnListenAddr learns where a peer that dialled us accepts connections (its IP and the
// port its extended handshake gave), so it is dialled again if the connection drops.
func (t *torrent) learnListenAddr(c *conn, h wire.ExtendedHandshake) {
	if c.outgoing || h.P <= 0 || h.P > 0xffff {
		return
	}
	if _, web := c.nc.(*webSeedConn); web {
		return
	}
	t.learn(fromIncoming, []netip.AddrPort{netip.AddrPortFrom(c.addr.Addr(), uint16(h.P))})
}
