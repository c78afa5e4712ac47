package peer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/speedbt/btt/peer/utp"
)

// This file is the control surface a long-running host (btt daemon) needs beyond adding and
// closing torrents: limits that change while the session runs, and a view of a torrent's
// connections that only its loop may take.

// SetUploadRateLimit changes the session's upload cap in payload bytes per second; 0 lifts it.
// It applies to the grants the send scheduler hands out from now on.
func (s *Session) SetUploadRateLimit(bytesPerSec int64) {
	if s.sched != nil {
		s.sched.setRate(bytesPerSec)
	}
}

// PeerSummary counts a torrent's connections by what flows on them, as Transmission's
// peersConnected, peersSendingToUs and peersGettingFromUs do.
type PeerSummary struct {
	Connected   int
	SendingToUs int // the peer unchokes us and we are interested
	GettingFrom int // we unchoke the peer and it is interested
	List        []PeerInfo
}

// PeerInfo is one connection as a user sees it (Transmission's peers list).
type PeerInfo struct {
	Addr           netip.AddrPort
	Client         string // from the peer id (Azureus-style prefix), or "" when unknown
	Incoming, UTP  bool
	AmChoking      bool // we choke the peer
	AmInterested   bool
	PeerChoking    bool // the peer chokes us
	PeerInterested bool
	Progress       float64 // fraction of the pieces the peer has
	DownRate       float64 // bytes/s from the peer
	UpRate         float64 // bytes/s to the peer
}

// ErrTorrentClosed is returned by calls on a torrent that was closed.
var ErrTorrentClosed = errors.New("peer: torrent closed")

// Peers counts the torrent's connections; it asks the torrent's loop, so it waits at most
// until ctx ends.
func (T *Torrent) Peers(ctx context.Context) (PeerSummary, error) {
	t := T.t
	res := make(chan PeerSummary, 1)
	f := func() {
		var p PeerSummary
		for _, c := range t.conns {
			p.Connected++
			_, isUTP := c.nc.(*utp.Conn)
			info := PeerInfo{
				Addr: c.addr, Client: ClientName(c.peerID), Incoming: !c.outgoing, UTP: isUTP,
				AmChoking: c.ls.amChoking, AmInterested: c.ls.amInterested,
				PeerChoking: c.ls.peerChoking, PeerInterested: c.ls.peerInterested,
				DownRate: c.ls.downRate.perSecond(), UpRate: c.ls.upRate.perSecond(),
			}
			if n := t.layout.NumPieces; n > 0 {
				info.Progress = float64(c.ls.has.Count()) / float64(n)
			}
			p.List = append(p.List, info)
			if !c.ls.peerChoking && c.ls.amInterested {
				p.SendingToUs++
			}
			if !c.ls.amChoking && c.ls.peerInterested {
				p.GettingFrom++
			}
		}
		res <- p
	}
	select {
	case t.cmds <- f:
	case <-t.stopping:
		return PeerSummary{}, ErrTorrentClosed
	case <-ctx.Done():
		return PeerSummary{}, ctx.Err()
	}
	select {
	case p := <-res:
		return p, nil
	case <-t.done:
		return PeerSummary{}, ErrTorrentClosed
	case <-ctx.Done():
		return PeerSummary{}, ctx.Err()
	}
}

// HavePieces returns which pieces are verified, as a fresh slice; safe from any goroutine
// (storage keeps the set in atomics), also after Close.
func (T *Torrent) HavePieces() []bool { return T.t.store.Pieces() }

// azureusClients names the clients of common Azureus-style peer id prefixes ("-LT2010-").
var azureusClients = map[string]string{
	"LT": "libtorrent", "lt": "libTorrent (rakshasa)", "TR": "Transmission", "qB": "qBittorrent",
	"DE": "Deluge", "UT": "µTorrent", "BT": "btt", "AZ": "Vuze", "BI": "BiglyBT", "KT": "KTorrent",
}

// ClientName names a peer's client from its peer id: the Azureus-style prefix's client with
// its version digits, aria2's "A2-" ids, or "" when the id says nothing recognisable.
func ClientName(id [20]byte) string {
	if id[0] == '-' && id[7] == '-' {
		code, ver := string(id[1:3]), id[3:7]
		for _, b := range ver {
			if !(b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z') {
				return ""
			}
		}
		name, ok := azureusClients[code]
		if !ok {
			name = code
		}
		return fmt.Sprintf("%s %c.%c.%c.%c", name, ver[0], ver[1], ver[2], ver[3])
	}
	if string(id[:3]) == "A2-" {
		return "aria2"
	}
	return ""
}
