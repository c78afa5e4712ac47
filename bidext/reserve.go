package bidext

import (
	"math"
	"time"
)

// Curve is the shape of a reserve price's growth.
type Curve uint8

const (
	// Doubling: Start after the grace period, doubling every Period.
	Doubling Curve = iota
	// Linear: Start after the grace period, plus Step every Period.
	Linear
)

// ReserveConfig is the growth of a torrent's reserve price with the time since the
// torrent was last known to be held by another peer (its completion, or the last valid
// source proof).
type ReserveConfig struct {
	Curve Curve
	// Grace: the reserve stays 0 this long, so an ordinary swarm never sees one.
	Grace time.Duration
	// Start is the price (units per GiB) once the grace period has passed.
	Start uint64
	// Step is what Linear adds every Period.
	Step uint64
	// Period is the growth interval; 0 or less means no growth after Start.
	Period time.Duration
	// Cap bounds the reserve; 0 means no reserve at all (the user opted out).
	Cap uint64
}

// DefaultReserve starts at 0.1 BTT/GiB after a day with no other known holder, doubles
// daily and stops at 100 BTT/GiB. Why: a torrent nobody else has held for a day is one
// whose seeder carries real cost; doubling finds what requesters will pay in a few steps
// while staying negligible for the first days, and the cap bounds a forgotten setting.
func DefaultReserve() ReserveConfig {
	return ReserveConfig{
		Curve:  Doubling,
		Grace:  24 * time.Hour,
		Start:  UnitsPerBTT / 10,
		Period: 24 * time.Hour,
		Cap:    100 * UnitsPerBTT,
	}
}

// At returns the reserve price after elapsed time since the torrent was last known to be
// held elsewhere. It is 0 up to and including Grace, never above Cap or MaxPrice, and
// never decreases as elapsed grows.
func (c ReserveConfig) At(elapsed time.Duration) uint64 {
	limit := min(c.Cap, MaxPrice)
	if elapsed <= c.Grace || limit == 0 {
		return 0
	}
	var periods uint64
	if c.Period > 0 {
		periods = uint64((elapsed - c.Grace) / c.Period)
	}
	p := c.Start
	switch c.Curve {
	case Linear:
		if c.Step != 0 && periods > (math.MaxUint64-p)/c.Step {
			p = math.MaxUint64
		} else {
			p += periods * c.Step
		}
	default:
		if p != 0 && periods >= 64 || periods > 0 && p > math.MaxUint64>>periods {
			p = math.MaxUint64
		} else {
			p <<= periods
		}
	}
	return min(p, limit)
}
