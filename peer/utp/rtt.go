package utp

import "time"

// RTO bounds. BEP 29 gives 500 ms as the floor; the ceiling keeps a dead peer from
// holding a connection for minutes.
const (
	minRTO     = 500 * time.Millisecond
	maxRTO     = 60 * time.Second
	initialRTO = time.Second
)

// rttEstimator is the RFC 6298 smoothed round-trip estimator that BEP 29 prescribes.
// Samples come only from packets sent once (Karn's rule).
type rttEstimator struct {
	srtt, rttvar time.Duration
	rto          time.Duration
	backoff      int // doublings since the last good sample
}

func (r *rttEstimator) sample(m time.Duration) {
	if m <= 0 {
		m = time.Microsecond
	}
	if r.srtt == 0 {
		r.srtt, r.rttvar = m, m/2
	} else {
		d := r.srtt - m
		if d < 0 {
			d = -d
		}
		r.rttvar += (d - r.rttvar) / 4
		r.srtt += (m - r.srtt) / 8
	}
	r.backoff = 0
	r.rto = min(max(r.srtt+4*r.rttvar, minRTO), maxRTO)
}

// timeout is the current retransmission timeout, doubled per unanswered timeout.
func (r *rttEstimator) timeout() time.Duration {
	t := r.rto
	if t == 0 {
		t = initialRTO
	}
	for i := 0; i < r.backoff && t < maxRTO; i++ {
		t *= 2
	}
	return min(t, maxRTO)
}

// smoothed returns the smoothed RTT, or fallback before the first sample.
func (r *rttEstimator) smoothed(fallback time.Duration) time.Duration {
	if r.srtt == 0 {
		return fallback
	}
	return r.srtt
}
