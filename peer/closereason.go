package peer

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// CloseReason says why a connection closed, for the log and Stats.Closed. The first error
// given to conn.close is the reason (conn.closeErr): when the loop closes a connection for a
// protocol breach or a ban, the reader then fails with "use of closed connection", which
// says nothing.
type CloseReason uint8

const (
	CloseNetwork    CloseReason = iota // the peer hung up or the network failed (EOF, reset, timeout)
	CloseProtocol                      // the peer broke the protocol: malformed or forbidden message
	CloseBanned                        // its address was banned (corrupt data, unpaid pieces)
	CloseBothSeeds                     // both sides have everything (or are upload-only): nothing to trade
	CloseNotReading                    // it stopped reading what we send (ErrSendQueueFull)
	CloseClaim                         // Speed: it bid far below what a tracker claimed for it
	CloseStopped                       // we stopped the torrent or the session
	CloseOther                         // anything else (a storage error while serving, ...)
	numCloseReasons
)

var closeReasonNames = [numCloseReasons]string{
	CloseNetwork:    "network",
	CloseProtocol:   "protocol",
	CloseBanned:     "banned",
	CloseBothSeeds:  "both-seeds",
	CloseNotReading: "not-reading",
	CloseClaim:      "claimed-bid",
	CloseStopped:    "stopped",
	CloseOther:      "other",
}

func (r CloseReason) String() string {
	if r < numCloseReasons {
		return closeReasonNames[r]
	}
	return "unknown"
}

// errBothSeeds closes a connection between two seeds.
var errBothSeeds = errors.New("peer: both seeds")

// closeReason classifies the error a connection closed with. banned says whether the
// peer's address is banned now: a ban closes its connections with errors of several owners.
func closeReason(err error, banned bool) CloseReason {
	var pe *errProtocol
	switch {
	case errors.Is(err, errBanned):
		return CloseBanned
	case errors.As(err, &pe), errorIsPeerFault(err):
		return CloseProtocol
	case errors.Is(err, errBothSeeds), errors.Is(err, errBothUploadOnly):
		return CloseBothSeeds
	case errors.Is(err, ErrSendQueueFull):
		return CloseNotReading
	case errors.Is(err, errClaimedBid):
		return CloseClaim
	case errors.Is(err, errTorrentClosed):
		return CloseStopped
	case banned:
		return CloseBanned
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, os.ErrDeadlineExceeded):
		return CloseNetwork
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return CloseNetwork
	}
	return CloseOther
}

// noteClose logs why c closed and counts it in Stats.Closed. err is what the reader saw;
// the reason is the first error the connection was closed with.
func (t *torrent) noteClose(c *conn, err error) {
	if c.closeErr != nil { // written before c.closed was closed, which the reader waited on
		err = c.closeErr
	}
	r := closeReason(err, t.s.banned(c.addr.Addr().Unmap()))
	t.stats.closes[r].Add(1)
	switch r {
	case CloseProtocol, CloseBanned, CloseClaim:
		t.s.log.Info("peer closed", "addr", c, "reason", r, "err", err)
	default:
		t.s.log.Debug("peer closed", "addr", c, "reason", r, "err", err)
	}
}

// closeCounts is Stats.Closed: the connections closed so far, by reason; reasons that never
// happened are left out.
func (t *torrent) closeCounts() map[string]int {
	m := map[string]int{}
	for r := range numCloseReasons {
		if n := t.stats.closes[r].Load(); n > 0 {
			m[r.String()] = int(n)
		}
	}
	return m
}
