package peer

import (
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

func (t *torrent) releaseAll(c *conn) {
	t.picker.PeerChoked(c.key)
	c.clearRequested()
}

// cancelAt cancels our request of b at o, which another peer has just delivered. A
// provider bills the blocks it sends (docs/speed-payments.md, rule 3), so under paid terms a
// block already on its way when the cancel arrives must still be read and paid: it stays
// among o's requested blocks until it arrives, o rejects it (BEP 6), o chokes us or the
// connection ends. Otherwise it is forgotten at once and skipped on arrival.
func (t *torrent) cancelAt(o *conn, b piece.Block) {
	if !o.ls.sp.pr.terms {
		o.removeRequested(b)
	}
	o.send(wire.Message{Type: wire.Cancel, Index: b.Piece, Begin: b.Begin, Length: b.Length})
}

// updateInterest tells the peer whether we want anything it has.
func (t *torrent) updateInterest(c *conn) {
	c.ls.seed = c.ls.has.All()
	want := t.picker.Interesting(c.key)
	if want != c.ls.amInterested {
		c.ls.amInterested = want
		if want {
			c.send(wire.Message{Type: wire.Interested})
			t.offerBid(c)
		} else {
			c.send(wire.Message{Type: wire.NotInterested})
		}
	}
	t.closeIfBothSeeds(c)
}

// fillRequests tops up the requests outstanding at c to its queue depth.
func (t *torrent) fillRequests(c *conn) {
	if !c.ls.amInterested || t.picker.Complete() {
		return
	}
	choked := c.ls.peerChoking
	if choked && len(c.ls.allowedFast) == 0 {
		return
	}
	depth := t.depth.Depth(c.ls.downRate.perSecond(), c.downloaded.Load(), c.ls.snubbed)
	if c.ls.ext.reqq > 0 {
		depth = min(depth, c.ls.ext.reqq)
	}
	// Pad blocks picked are filled, not requested: pick again for their places. Each round
	// fills at least one block that no later round is given, so the rounds are bounded.
	for padded := true; padded; {
		padded = false
		out := len(t.picker.Outstanding(c.key))
		n := depth - out
		// Top up in batches of at least a quarter of the depth: one write of many requests
		// instead of a wake-up and a system call of the writer for every block received.
		if n <= 0 || (out > 0 && n < depth/4) {
			return
		}
		var blocks []piece.Block
		if choked {
			blocks = t.picker.PickAllowedFast(c.key, n, t.reqBuf[:0])
		} else {
			blocks = t.picker.Pick(c.key, n, t.reqBuf[:0])
		}
		for _, b := range blocks {
			if t.pad.only(b) {
				t.fillPad(c, b)
				padded = true
				continue
			}
			c.addRequested(b)
			c.send(wire.Message{Type: wire.Request, Index: b.Piece, Begin: b.Begin, Length: b.Length})
		}
		t.reqBuf = blocks[:0]
	}
}
