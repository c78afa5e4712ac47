package peer

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/peer/tracker"
	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// Tracker timing.
const (
	// trackerNumWant is how many peers an announce asks for (mainline's default).
	trackerNumWant = 50
	// claimGrace is how long a peer a tracker said bids may take to send its real bid
	// (docs/bep-speed.md, 8.1).
	claimGrace = 30 * time.Second
)

// startTrackers sets up the torrent's announcer for its tracker tiers, if it has any.
func (t *torrent) startTrackers(tiers [][]string) {
	if len(tiers) == 0 {
		return
	}
	t.announcer = tracker.NewAnnouncer(t.s.trackerClient, tiers, nil)
	var k [4]byte
	rand.Read(k[:])
	t.trackerKey = binary.BigEndian.Uint32(k[:])
}

func (t *torrent) announceRequest(ev wiretracker.Event) wiretracker.AnnounceRequest {
	req := wiretracker.AnnounceRequest{
		InfoHash:   t.infoHash,
		PeerID:     t.s.peerID,
		Port:       uint16(t.s.listenPort()),
		Uploaded:   t.stats.uploaded.Load(),
		Downloaded: t.stats.downloaded.Load(),
		Left:       t.layout.TotalLength - t.stats.bytesDone.Load(),
		Event:      ev,
		NumWant:    trackerNumWant,
		Key:        t.trackerKey,
	}
	if ev == wiretracker.EventStopped {
		req.NumWant = 0
	}
	if t.speedOn() {
		req.Bid, _ = t.speed.bidder.Last()
		// A seed that sells asks for the highest bidders at or above its reserve instead of
		// an ordinary peer list, and dials them: its slots go where the bids are. Peers
		// that do not bid find it through their own announces.
		if t.speed.eff.Auction && t.picker.Complete() && req.NumWant > 0 {
			req.Top, req.MinBid = req.NumWant, t.speed.reserve
		}
	}
	return req
}

// trackerTick announces when the schedule says so, or sooner with an event.
func (t *torrent) trackerTick(now time.Time, ev wiretracker.Event) {
	a := t.announcer
	if a == nil || t.announcing {
		return
	}
	if ev == wiretracker.EventNone && !a.Next().IsZero() && now.Before(a.Next()) {
		return
	}
	t.announcing = true
	req := t.announceRequest(ev)
	t.s.wg.Add(1)
	go func() {
		defer t.s.wg.Done()
		ctx, cancel := context.WithTimeout(t.s.ctx, 2*time.Minute)
		defer cancel()
		resp, url, err := a.Announce(ctx, now, req)
		t.do(func() {
			t.announcing = false
			if err != nil {
				t.s.log.Info("tracker announce failed", "err", err)
				return
			}
			t.stats.trackerAnnounces.Add(1)
			t.s.log.Debug("tracker announce", "url", url, "peers", len(resp.Peers), "interval", resp.Interval)
			t.addTrackerPeers(resp.Peers)
		})
	}()
}

// addTrackerPeers adds what a tracker returned to the addresses we may dial, and notes the
// bids it claimed for them (they are stale claims, checked against the real bids).
func (t *torrent) addTrackerPeers(peers []wiretracker.Peer) {
	self := t.s.listenPort()
	aps := make([]netip.AddrPort, 0, len(peers))
	for _, p := range peers {
		if !p.Addr.IsValid() || p.ID == t.s.peerID || isOwnAddr(p.Addr, t.s, self) {
			continue // trackers list us among the peers
		}
		aps = append(aps, p.Addr)
	}
	if t.learn(fromTracker, aps) > 0 {
		t.connectMore()
	}
	for _, p := range peers {
		ap := netip.AddrPortFrom(p.Addr.Addr().Unmap(), p.Addr.Port())
		if _, ok := t.known[ap]; ok && p.Bid > 0 {
			t.claims[ap.Addr()] = claimedBid{bid: p.Bid}
		}
	}
}

func isOwnAddr(ap netip.AddrPort, s *Session, port int) bool {
	if int(ap.Port()) != port {
		return false
	}
	if a := s.Addr(); a != nil {
		if own, err := netip.ParseAddrPort(a.String()); err == nil {
			return own.Addr().Unmap() == ap.Addr().Unmap() || own.Addr().IsUnspecified()
		}
	}
	return false
}

// claimedBid is what a tracker said a peer bids.
type claimedBid struct {
	bid uint64
}

// checkClaim disconnects a peer whose real bid is radically below what a tracker claimed
// for it (below half), or that sent none within the grace period: a peer must not attract
// connections with a bid it does not make.
func (t *torrent) checkClaim(c *conn, now time.Time) error {
	cl, ok := t.claims[c.addr.Addr().Unmap()]
	if !ok || c.ls.sp.id == 0 {
		return nil
	}
	real := c.ls.sp.bid
	if real == 0 && now.Sub(c.ls.connectedAt) < claimGrace {
		return nil
	}
	if bidext.BidRadicallyLower(cl.bid, real) {
		t.stats.claimDisconnects.Add(1)
		return errClaimedBid
	}
	return nil
}

var errClaimedBid = errors.New("peer: real bid radically below what a tracker claimed")

// stopTrackers sends "stopped" to the trackers that heard "started", briefly: the session is
// going away and must not hang on a dead tracker.
func (t *torrent) stopTrackers() {
	if t.announcer == nil || t.announcer.Current() == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	t.announcer.Announce(ctx, time.Now(), t.announceRequest(wiretracker.EventStopped))
}
