package channel

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// UnitsPerBTT is the number of base units in one BTT (6 decimals, as the TRC-10 token had).
const UnitsPerBTT = 1_000_000

// GenesisSupply is the total supply in base units: 990,000,000,000 BTT.
const GenesisSupply uint64 = 990_000_000_000 * UnitsPerBTT

// ErrOverflow is returned when a sum of amounts would not fit in 64 bits.
var ErrOverflow = errors.New("channel: amount overflow")

// ErrBadAmount is returned for an amount string that is not a plain non-negative decimal.
var ErrBadAmount = errors.New("channel: invalid amount")

// AddAmounts returns a+b, or ErrOverflow instead of wrapping around.
func AddAmounts(a, b uint64) (uint64, error) {
	if a > math.MaxUint64-b {
		return 0, ErrOverflow
	}
	return a + b, nil
}

// FormatBTT renders base units as a decimal BTT amount with exactly 6 decimals ("1.500000").
func FormatBTT(units uint64) string {
	return fmt.Sprintf("%d.%06d", units/UnitsPerBTT, units%UnitsPerBTT)
}

// ParseBTT parses a decimal BTT amount ("12", "0.5", "1.000001") into base units. It refuses
// signs, exponents, more than 6 decimals and anything that overflows; no floating point is used.
func ParseBTT(s string) (uint64, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(s) > 40 {
		return 0, fmt.Errorf("%w: %q", ErrBadAmount, s)
	}
	if hasDot && frac == "" || len(frac) > 6 {
		return 0, fmt.Errorf("%w: %q: want at most 6 decimals", ErrBadAmount, s)
	}
	if !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%w: %q", ErrBadAmount, s)
	}
	var w uint64
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 64); err != nil {
			return 0, fmt.Errorf("%w: %q: %w", ErrBadAmount, s, ErrOverflow)
		}
	}
	if w > math.MaxUint64/UnitsPerBTT {
		return 0, fmt.Errorf("%w: %q: %w", ErrBadAmount, s, ErrOverflow)
	}
	var f uint64
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	total, err := AddAmounts(w*UnitsPerBTT, f)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %w", ErrBadAmount, s, err)
	}
	return total, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
