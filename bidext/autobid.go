package bidext

import (
	"math/bits"
	"time"
)

// PPM is one million parts per million: spending rates are integers so that no float
// ever reaches a message or a ledger.
const PPM = 1_000_000

// Auto-bid defaults, from the white paper: spend the whole balance (rate 1.0), re-bid on
// a change above 10 %, at most once a minute.
const (
	DefaultSpendingRate = PPM
	DefaultRebidChange  = PPM / 10
	DefaultRebidEvery   = time.Minute
)

// AutoBid is the white paper's formula, bid = spending_rate x balance / remaining, in
// price units: floor(floor(balance * ratePPM / 1e6) * 2^30 / remaining), balance in base
// units and remaining in bytes. ok is false when nothing remains (no bid). A rate above
// PPM counts as PPM, and a bid above MaxPrice is clamped to it.
func AutoBid(balance uint64, ratePPM uint32, remaining uint64) (bid uint64, ok bool) {
	if remaining == 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(balance, uint64(min(ratePPM, PPM)))
	spend, _ := bits.Div64(hi, lo, PPM) // hi < PPM since rate <= PPM: no panic, fits
	hi, lo = spend>>(64-PriceDataShift), spend<<PriceDataShift
	if hi >= remaining {
		return MaxPrice, true
	}
	q, _ := bits.Div64(hi, lo, remaining)
	return min(q, MaxPrice), true
}

// Bidder decides when a torrent's auto-bid is sent: at once for the first bid, for a
// withdrawal (nothing remains, or Speed turned off) and after any user change; otherwise
// only when the bid moved by more than Change (parts per million of the last sent bid)
// and the last one went out at least Every ago. The clock is passed in.
type Bidder struct {
	// Change and Every are the re-bid limits; NewBidder sets the defaults.
	Change uint32
	Every  time.Duration

	enabled bool
	rate    uint32
	max     uint64 // 0: MaxPrice
	user    bool   // a user change waits to be sent
	sent    bool   // something was sent (possibly a withdrawal)
	last    uint64
	lastAt  time.Time
}

// NewBidder returns a bidder with the default re-bid limits.
func NewBidder(enabled bool, ratePPM uint32) *Bidder {
	return &Bidder{Change: DefaultRebidChange, Every: DefaultRebidEvery, enabled: enabled, rate: min(ratePPM, PPM)}
}

// SetEnabled turns auto-bidding on or off (a user change: sent at once).
func (b *Bidder) SetEnabled(on bool) {
	if on != b.enabled {
		b.enabled, b.user = on, true
	}
}

// SetRate sets the spending rate in parts per million (a user change: sent at once).
func (b *Bidder) SetRate(ppm uint32) {
	ppm = min(ppm, PPM)
	if ppm != b.rate {
		b.rate, b.user = ppm, true
	}
}

// SetMaxPrice caps the bid (units per GiB; 0: no cap beyond MaxPrice). A change is a user
// change: sent at once.
func (b *Bidder) SetMaxPrice(p uint64) {
	if p != b.max {
		b.max, b.user = p, true
	}
}

// Enabled reports whether auto-bid is on.
func (b *Bidder) Enabled() bool { return b.enabled }

// BalanceChanged records that the user changed the balance (a deposit, a transfer, a
// faucet grant), so the next bid goes out at once. Payments the client makes are not
// user changes: they move the bid under the normal limits.
func (b *Bidder) BalanceChanged() { b.user = true }

// Last returns the last bid sent and whether any was sent (0 is a withdrawal).
func (b *Bidder) Last() (uint64, bool) { return b.last, b.sent }

// Next computes the bid for the current balance (base units) and remaining bytes and
// reports whether it must be sent now. It returns the bid in force: the new bid, recorded
// as sent, when send is true, else the last one sent. Bid 0 is a withdrawal.
func (b *Bidder) Next(now time.Time, balance, remaining uint64) (bid uint64, send bool) {
	if b.enabled {
		bid, _ = AutoBid(balance, b.rate, remaining)
		if b.max > 0 {
			bid = min(bid, b.max)
		}
	}
	user := b.user
	b.user = false
	switch {
	case !b.sent && bid == 0:
		return 0, false // nothing to offer and nothing to withdraw
	case b.sent && bid == b.last:
		return bid, false
	case !b.sent, user, bid == 0:
		// first bid, user change, withdrawal: at once
	case now.Sub(b.lastAt) < b.Every:
		return b.last, false
	case !b.moved(bid):
		return b.last, false
	}
	b.sent, b.last, b.lastAt = true, bid, now
	return bid, true
}

// moved reports |bid - last| > Change/1e6 * last, exactly.
func (b *Bidder) moved(bid uint64) bool {
	d := bid - b.last
	if bid < b.last {
		d = b.last - bid
	}
	dh, dl := bits.Mul64(d, PPM)
	th, tl := bits.Mul64(b.last, uint64(b.Change))
	return dh > th || (dh == th && dl > tl)
}
