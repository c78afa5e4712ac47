package bidext

import "math/bits"

// Budget is a requester's session-wide spending limit, in base units (docs/speed-payments.md,
// rule 9). What it counts is what the requester could ever owe: the whole deposit of every
// channel it may still sign on, plus what it signed on channels it retired. Deposits are
// granted only out of what is left, so for any prices, torrents and failures
//
//	signed vouchers + unspent deposits <= committed <= limit.
//
// Lowering the limit stops new deposits; channels already funded keep paying up to their
// deposit (the requester promised it). The zero value has a zero limit. Not safe for
// concurrent use.
type Budget struct {
	limit     uint64
	committed uint64
}

// NewBudget returns a budget of limit base units.
func NewBudget(limit uint64) *Budget { return &Budget{limit: limit} }

// SetLimit changes the limit.
func (b *Budget) SetLimit(limit uint64) { b.limit = limit }

// Limit returns the limit.
func (b *Budget) Limit() uint64 { return b.limit }

// Committed returns the deposits still usable plus what was signed on retired channels.
func (b *Budget) Committed() uint64 { return b.committed }

// Left returns what new deposits may still take.
func (b *Budget) Left() uint64 {
	if b.committed >= b.limit {
		return 0
	}
	return b.limit - b.committed
}

// Reserve grants up to want for a new deposit and commits it.
func (b *Budget) Reserve(want uint64) uint64 {
	g := min(want, b.Left())
	b.committed += g
	return g
}

// Retire releases a channel of deposit whose vouchers reached used in total and will go no
// further (used up, expiring, its provider gone, or never opened: used 0).
func (b *Budget) Retire(deposit, used uint64) {
	free := deposit - min(used, deposit)
	b.committed -= min(free, b.committed)
}

// BudgetBid is the auto-bid price for a budget: the price (units per GiB) at which what is
// left to spend buys exactly the data still wanted over every bidding torrent, capped by
// maxPrice (0: MaxPrice). Spending only lowers what is left and the data wanted together,
// so the bid does not compound: at a constant price it stays constant.
func BudgetBid(spendable, remaining, maxPrice uint64) (uint64, bool) {
	if remaining == 0 {
		return 0, false
	}
	if maxPrice == 0 {
		maxPrice = MaxPrice
	}
	hi, lo := spendable>>(64-PriceDataShift), spendable<<PriceDataShift
	if hi >= remaining {
		return min(MaxPrice, maxPrice), true
	}
	q, _ := bits.Div64(hi, lo, remaining)
	return min(q, maxPrice, MaxPrice), true
}
