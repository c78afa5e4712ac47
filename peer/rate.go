package peer

import "time"

// rate is a transfer rate measured from a growing byte counter, smoothed over a few seconds
// so one burst does not decide a rechoke, yet recent enough that tit-for-tat follows changes.
type rate struct {
	last      time.Time
	lastBytes int64
	bps       float64
}

// rateWindow is the smoothing time constant: the rechoke looks at the last ~20 s, as
// mainline's rolling averages do.
const rateWindow = 20 * time.Second

// update records the counter's value at now.
func (r *rate) update(now time.Time, total int64) {
	if r.last.IsZero() {
		r.last, r.lastBytes = now, total
		return
	}
	dt := now.Sub(r.last)
	if dt <= 0 {
		return
	}
	inst := float64(total-r.lastBytes) / dt.Seconds()
	// Exponential smoothing with a weight that respects irregular sampling intervals.
	alpha := min(1, float64(dt)/float64(rateWindow))
	if r.bps == 0 {
		alpha = 1 // first real sample: no history to trust
	}
	r.bps += alpha * (inst - r.bps)
	r.last, r.lastBytes = now, total
}

// perSecond returns the smoothed rate in bytes per second.
func (r *rate) perSecond() float64 { return r.bps }
