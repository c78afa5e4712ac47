package bidext

import (
	"errors"
	"math"
	"math/bits"
)

// The price unit. Every bid, bid-response, reserve price and tracker bid is an integer
// number of base units (1 BTT = 1,000,000 units) per GiB (2^30 bytes) of piece data.
// Per-data rather than per-piece makes prices comparable across torrents, and per GiB
// gives resolution down to 1e-6 BTT/GiB (about 1e-15 BTT per byte) while a uint64 still
// reaches 1.8e13 BTT/GiB, far above the whole supply.
const (
	// UnitsPerBTT is the number of base units in one BTT.
	UnitsPerBTT = 1_000_000
	// PriceDataShift: a price is per 1<<PriceDataShift bytes.
	PriceDataShift = 30
	// PriceDataBytes is the amount of data a price is quoted for (1 GiB).
	PriceDataBytes = 1 << PriceDataShift
	// MaxPrice is the largest price on the wire: bencode integers are signed 64-bit in
	// every mainstream implementation.
	MaxPrice = math.MaxInt64
)

// ErrOverflow reports an amount that does not fit in 64 bits of base units (more than
// the token supply many times over).
var ErrOverflow = errors.New("bidext: amount overflows uint64")

// Owed returns the base units owed for n cumulative bytes at price (units per GiB):
// floor(price * n / 2^30), computed exactly with a 128-bit product. Callers bill
// cumulatively (Owed(p, total) - already paid), so rounding never accumulates: the sum
// of the increments always equals the exact floor of the total.
func Owed(price, n uint64) (uint64, error) {
	hi, lo := bits.Mul64(price, n)
	if hi>>PriceDataShift != 0 {
		return 0, ErrOverflow
	}
	return hi<<(64-PriceDataShift) | lo>>PriceDataShift, nil
}

// MaxMeterPrices bounds the distinct prices one Meter tracks. Prices change at most once
// per rechoke (10 s), so this is more than a week of constant repricing.
const MaxMeterPrices = 1 << 16

// ErrTooManyPrices reports a Meter asked to track more than MaxMeterPrices prices.
var ErrTooManyPrices = errors.New("bidext: too many distinct prices on one meter")

// Meter accumulates what one requester owes one provider. Bytes are summed per distinct
// price and each sum is floored once: the amount owed is
//
//	sum over prices P of floor(P * B_P / 2^30)
//
// where B_P is the bytes of verified piece data received under price P. It depends only
// on the totals, not on the order in which pieces verify or prices alternate, so the
// requester and the provider compute the same amount from the same blocks. The zero
// value owes nothing. Not safe for concurrent use.
type Meter struct {
	bytes map[uint64]uint64 // price -> bytes billed at it
	total uint64
}

// Add bills n more bytes at price and returns the new cumulative amount owed. On error
// the meter is unchanged. Free bytes (price 0) are not recorded.
func (m *Meter) Add(price, n uint64) (uint64, error) {
	if price == 0 || n == 0 {
		return m.total, nil
	}
	old, seen := m.bytes[price]
	if !seen && len(m.bytes) >= MaxMeterPrices {
		return 0, ErrTooManyPrices
	}
	b, carry := bits.Add64(old, n, 0)
	if carry != 0 {
		return 0, ErrOverflow
	}
	before, _ := Owed(price, old) // was accepted when old was recorded
	after, err := Owed(price, b)
	if err != nil {
		return 0, err
	}
	t, carry := bits.Add64(m.total-before, after, 0)
	if carry != 0 {
		return 0, ErrOverflow
	}
	if m.bytes == nil {
		m.bytes = make(map[uint64]uint64)
	}
	m.bytes[price], m.total = b, t
	return t, nil
}

// Total returns the cumulative amount owed.
func (m *Meter) Total() uint64 { return m.total }

// Bytes returns the bytes billed at price.
func (m *Meter) Bytes(price uint64) uint64 { return m.bytes[price] }

// Remove takes back n bytes billed at price (data billed but never sent) and returns the
// new cumulative amount. Removing more than was billed at price removes what there is.
func (m *Meter) Remove(price, n uint64) uint64 {
	old := m.bytes[price]
	if price == 0 || old == 0 {
		return m.total
	}
	b := old - min(old, n)
	before, _ := Owed(price, old) // both fit: old did
	after, _ := Owed(price, b)
	m.total -= before - after
	if b == 0 {
		delete(m.bytes, price)
	} else {
		m.bytes[price] = b
	}
	return m.total
}
