package peer

import (
	"context"
	"errors"
)

// This file is the control surface a long-running host (btt daemon) needs beyond adding and
// closing torrents: limits that change while the session runs, and a view of a torrent's
// connections that only its loop may take.

// SetUploadRateLimit changes the session's upload cap in payload bytes per second; 0 lifts it.
// Blocks already waiting keep the delay they were given.
func (s *Session) SetUploadRateLimit(bytesPerSec int64) { s.upLimit.set(bytesPerSec) }

// PeerSummary counts a torrent's connections by what flows on them, as Transmission's
// peersConnected, peersSendingToUs and peersGettingFromUs do.
type PeerSummary struct {
	Connected   int
	SendingToUs int // the peer unchokes us and we are interested
	GettingFrom int // we unchoke the peer and it is interested
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
