package ledger

import (
	"container/heap"
	"slices"
	"time"

	"github.com/speedbt/btt/channel"
)

// The idempotency window bounds what the ledger remembers.
//
// A signed request's nonce carries its issue time: the high 32 bits are Unix seconds
// (NewNonce does this; the low 32 bits are random). With CoreConfig.ReceiptWindow W > 0 the
// core refuses a new request whose nonce was issued more than W ago (ErrExpired) or more
// than MaxNonceSkew ahead of its clock (ErrInvalid). So a receipt is needed only until its
// nonce is W old: after that a replay is refused by its age instead of being answered
// from the receipt, and the receipt is dropped (in memory and, through
// Data.ExpireReceipts, in the store). A settled (closed or expired) channel leaves memory
// W + MaxNonceSkew after it settled, when its open request can no longer be replayed; it
// stays in the store (the archive), where reads by id still find it.
//
// Memory is then bounded by the traffic of one window: receipts <= signed operations
// accepted in the last W + MaxNonceSkew (plus receipts written before the window rule whose
// nonce, random, reads as a time in the future: a fixed set that never grows), settled
// channels <= closes and expiries in the last W + MaxNonceSkew, open channels <= opens in the
// last MaxLifetime. The price: an answer can be replayed only within W (clients resend
// within seconds), and a client's clock must be within W behind or MaxNonceSkew ahead.

// DefaultReceiptWindow is 10 minutes: forty times the client's failover timeout, and at
// the ledger's design rate (10,000 signed operations/s, ~330 bytes per receipt in memory)
// a bound of 9 M receipts, ~3 GB, for the window plus the skew allowance.
const DefaultReceiptWindow = 10 * time.Minute

// MaxNonceSkew is how far ahead of the ledger's clock a nonce's time may be.
const MaxNonceSkew = 5 * time.Minute

// NonceTime returns the issue time (Unix seconds) a nonce carries.
func NonceTime(nonce uint64) uint64 { return nonce >> 32 }

// checkNonce refuses a new request whose nonce is outside the window.
func (c *Core) checkNonce(nonce, now uint64) error {
	w := uint64(c.cfg.ReceiptWindow / time.Second)
	if w == 0 {
		return nil
	}
	t := NonceTime(nonce)
	switch {
	case t+w < now:
		return errorf(ErrExpired, "nonce issued at %d, more than %v before now (%d): sign the request again with a fresh nonce", t, c.cfg.ReceiptWindow, now)
	case t > now+uint64(MaxNonceSkew/time.Second):
		return errorf(ErrInvalid, "nonce issued at %d, more than %v after now (%d): check the clock", t, MaxNonceSkew, now)
	}
	return nil
}

// windowState orders what the window expires.
type windowState struct {
	receipts     timeHeap[receiptKey]        // by nonce time
	settled      timeHeap[channel.ChannelID] // by settle time
	expireBefore uint64                      // for the next TakeChanges: receipts the store may drop
	archived     []channel.ChannelID         // for the next TakeChanges: channels that left memory
}

func (c *Core) loadWindow(d *Data) {
	for k, r := range c.receipts {
		c.window.receipts.push(NonceTime(r.Nonce), k)
	}
	for id, ch := range c.channels {
		if ch.Status != StatusOpen {
			c.window.settled.push(uint64(ch.ClosedAt), id)
		}
	}
}

// expire drops receipts and settled channels that the window no longer needs; Sweep
// calls it.
func (c *Core) expire(now uint64) {
	w := uint64(c.cfg.ReceiptWindow / time.Second)
	if w == 0 || now <= w {
		return
	}
	cutoff := now - w
	for c.window.receipts.Len() > 0 && c.window.receipts.items[0].at < cutoff {
		it := c.window.receipts.pop()
		delete(c.receipts, it.key)
		c.window.expireBefore = cutoff
	}
	cutoff -= uint64(MaxNonceSkew / time.Second)
	for c.window.settled.Len() > 0 && c.window.settled.items[0].at < cutoff {
		it := c.window.settled.pop()
		if ch := c.channels[it.key]; ch != nil && ch.Status != StatusOpen {
			delete(c.channels, it.key)
			c.window.archived = append(c.window.archived, it.key)
		}
	}
}

// trimLoaded drops from loaded state what the window has already expired at now, so that
// start-up does not hold the archive in memory.
func trimLoaded(d *Data, cfg CoreConfig, now time.Time) {
	w := uint64(cfg.ReceiptWindow / time.Second)
	t := unixSeconds(now)
	if w == 0 || t <= w+uint64(MaxNonceSkew/time.Second) {
		return
	}
	d.Receipts = slices.DeleteFunc(d.Receipts, func(r Receipt) bool { return NonceTime(r.Nonce)+w < t })
	settledBefore := int64(t - w - uint64(MaxNonceSkew/time.Second))
	d.Channels = slices.DeleteFunc(d.Channels, func(c Channel) bool { return c.Status != StatusOpen && c.ClosedAt < settledBefore })
}

// Sizes reports how many receipts and channels the core holds (for tests of the bounds).
func (c *Core) Sizes() (receipts, channels int) { return len(c.receipts), len(c.channels) }

type timed[K any] struct {
	at  uint64
	key K
}

// timeHeap is a min-heap by time.
type timeHeap[K any] struct{ items []timed[K] }

func (h *timeHeap[K]) Len() int           { return len(h.items) }
func (h *timeHeap[K]) Less(i, j int) bool { return h.items[i].at < h.items[j].at }
func (h *timeHeap[K]) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *timeHeap[K]) Push(x any)         { h.items = append(h.items, x.(timed[K])) }
func (h *timeHeap[K]) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}
func (h *timeHeap[K]) push(at uint64, k K) { heap.Push(h, timed[K]{at, k}) }
func (h *timeHeap[K]) pop() timed[K]       { return heap.Pop(h).(timed[K]) }
