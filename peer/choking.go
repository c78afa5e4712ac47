package peer

import (
	"time"

	"github.com/speedbt/btt/choke"
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

// The rechoke has two triggers, kept apart as libtorrent's preemptive unchoke and rain's
// fast unchoke keep them: rechoke runs on the rechoke timer, ranks every peer and rotates
// the optimistic slot when its interval has passed; fillSlots runs on events (a peer
// becomes interested, a slot frees, a first bid) and only gives free slots away, so a
// burst of events neither re-ranks nor rotates anyone.

// newChokeConfig builds the torrent's choke configuration once, in AddTorrent: the slot
// counts and the rotation from the settings, the auction from the torrent's Speed terms.
// chokeConfig adds what changes between calls.
func (t *torrent) newChokeConfig() choke.Config {
	cfg := choke.DefaultConfig() // one optimistic slot
	cfg.RegularSlots = t.s.settings.UploadSlots
	cfg.OptimisticInterval = t.s.settings.OptimisticInterval
	cfg.ReciprocationSlots = t.s.settings.ReciprocationSlots
	cfg.Auction = t.speedOn() && t.speed.eff.Auction
	return cfg
}

// chokeConfig is the configuration in force at now: seed or not, and the reserve.
func (t *torrent) chokeConfig(now time.Time) choke.Config {
	cfg := t.chokeCfg
	cfg.Seed = t.picker.Complete()
	if cfg.Auction {
		cfg.Reserve = t.reserveInForce(now)
	}
	return cfg
}

// chokePeers is the choker's view of every connection at now.
func (t *torrent) chokePeers(now time.Time) []choke.Peer {
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
	return peers
}

// rechoke runs on the rechoke timer (now is the tick's time, so the optimistic rotation
// keeps the timer's exact pace): it asks the choker who should be unchoked and applies
// the difference.
func (t *torrent) rechoke(now time.Time) {
	res := choke.Rank(t.chokePeers(now), t.chokeConfig(now), &t.choker, now)
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

// fillSlots gives free slots to choked peers at once, so a new interested peer or a first
// bidder does not wait a whole interval for its first unchoke; it chokes and re-prices no
// one.
func (t *torrent) fillSlots() {
	now := time.Now()
	for _, slot := range choke.Fill(t.chokePeers(now), t.chokeConfig(now), &t.choker) {
		c := t.conns[piece.PeerKey(slot.Key)]
		t.setSendWeight(c, slot.Kind)
		t.applySlot(c, slot, now)
	}
}

// applySlot unchokes c under the terms of its slot: an auction winner is first told its
// price (bid-response), then unchoked. A peer whose terms changed while unchoked is choked,
// its pending requests rejected, told the new terms and unchoked again, so no block is
// served under ambiguous terms.
func (t *torrent) applySlot(c *conn, slot choke.Slot, now time.Time) {
	paying := slot.Kind == choke.Auction
	if !c.ls.amChoking && !slot.Changed {
		return
	}
	if !c.ls.amChoking && slot.Changed {
		t.chokePeer(c, now)
	}
	c.ls.sp.paying, c.ls.sp.price = paying, 0
	if paying {
		c.ls.sp.price = slot.Price
		t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedBidResponse, Price: slot.Price, Key: t.s.paymentKey(), Ledger: t.s.speed.Ledger})
		t.stats.auctionUnchokes.Add(1)
	}
	c.ls.amChoking = false
	c.send(wire.Message{Type: wire.Unchoke})
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
