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

// Meter accumulates what one requester owes one provider across price changes. Bytes
// are counted per price period and each period is floored once, so both sides compute
// the same cumulative amount from the same sequence of (price, piece length) events.
// The zero value is a meter at price 0 with nothing owed.
type Meter struct {
	settled uint64 // owed for closed periods
	price   uint64 // current period's price
	bytes   uint64 // bytes billed in the current period
}

// SetPrice starts a new period at price (a new bid-response took effect). The amount of
// the closing period is settled first.
func (m *Meter) SetPrice(price uint64) error {
	if price == m.price {
		return nil
	}
	cur, err := Owed(m.price, m.bytes)
	if err != nil {
		return err
	}
	s, carry := bits.Add64(m.settled, cur, 0)
	if carry != 0 {
		return ErrOverflow
	}
	m.settled, m.price, m.bytes = s, price, 0
	return nil
}

// Price returns the price of the current period.
func (m *Meter) Price() uint64 { return m.price }

// Add bills n more bytes (a verified piece) at the current price and returns the new
// cumulative amount owed. On error the meter is unchanged.
func (m *Meter) Add(n uint64) (uint64, error) {
	b, carry := bits.Add64(m.bytes, n, 0)
	if carry != 0 {
		return 0, ErrOverflow
	}
	total, err := m.total(b)
	if err != nil {
		return 0, err
	}
	m.bytes = b
	return total, nil
}

// Total returns the cumulative amount owed so far.
func (m *Meter) Total() uint64 {
	t, _ := m.total(m.bytes) // Add and SetPrice refuse any state whose total overflows
	return t
}

func (m *Meter) total(b uint64) (uint64, error) {
	cur, err := Owed(m.price, b)
	if err != nil {
		return 0, err
	}
	t, carry := bits.Add64(m.settled, cur, 0)
	if carry != 0 {
		return 0, ErrOverflow
	}
	return t, nil
}
