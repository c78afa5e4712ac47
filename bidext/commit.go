package bidext

import "time"

// ReserveCommitment is how long a reserve increase waits before it applies
// (docs/bep-speed.md, "Reserve commitment"). A provider sees the bids before it could
// raise its reserve; were a raise to apply at once, it could set the reserve just under
// the lowest winning bid and charge every winner that (with the demo's bids, 2.5 times the
// uniform price). Delayed by ten minutes, sixty rechokes, a raise is announced to every
// bidder long before it bites: a bidder can withdraw or finish first, and most transfers
// are over. Decreases apply at once: they only lower prices.
const ReserveCommitment = 10 * time.Minute

// MaxCommitted bounds the reserves a Committed remembers: one change a second over the
// commitment window, far more than a curve that steps daily or a proof that resets it ever
// makes. Beyond it Announce folds the two oldest into the lower one, so the reserve in force
// is never higher than announced.
const MaxCommitted = 600

// Committed is a torrent's announced reserve prices over the commitment window. The reserve
// in force at time t is the lowest one announced in (t - ReserveCommitment, t] together with
// the one in force when that window opened. The clock is passed in. Not safe for concurrent
// use.
type Committed struct {
	hist []committedPrice // in announcement order
}

type committedPrice struct {
	at    time.Time
	price uint64
}

// Announce records that price was announced at now.
func (c *Committed) Announce(now time.Time, price uint64) {
	c.prune(now)
	if len(c.hist) == MaxCommitted {
		// Fold the two oldest into one at the later time with the lower price: never a
		// higher reserve than announced, for no longer than announced.
		c.hist[1].price = min(c.hist[0].price, c.hist[1].price)
		c.hist = append(c.hist[:0], c.hist[1:]...)
	}
	c.hist = append(c.hist, committedPrice{at: now, price: price})
}

// InForce returns the reserve that applies to a rechoke at now.
func (c *Committed) InForce(now time.Time) uint64 {
	c.prune(now)
	if len(c.hist) == 0 {
		return 0
	}
	p := c.hist[0].price
	for _, h := range c.hist[1:] {
		p = min(p, h.price)
	}
	return p
}

// prune forgets announcements superseded before the window: the newest one announced at or
// before now - ReserveCommitment stays, as the reserve in force when the window opened.
func (c *Committed) prune(now time.Time) {
	cut := now.Add(-ReserveCommitment)
	i := 0
	for i+1 < len(c.hist) && !c.hist[i+1].at.After(cut) {
		i++
	}
	if i > 0 {
		c.hist = append(c.hist[:0], c.hist[i:]...)
	}
}

// Empty reports whether no reserve was announced yet.
func (c *Committed) Empty() bool { return len(c.hist) == 0 }
