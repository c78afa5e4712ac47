package utp

import "time"

// LEDBAT parameters (RFC 6817 section 2.5 and BEP 29).
const (
	baseHistory   = 10  // minutes of base-delay history (RFC 6817: BASE_HISTORY = 10)
	currentFilter = 4   // recent delay samples whose minimum is the current delay
	minCwndPkts   = 2   // RFC 6817: MIN_CWND = 2 packets
	ledbatGain    = 1.0 // RFC 6817: GAIN = 1 (at most 1 MSS per RTT of growth)
	allowedIncr   = 2   // RFC 6817: ALLOWED_INCREASE, in packets beyond the flight
	initCwndPkts  = 4   // initial window, in packets
	defaultTarget = 100 * time.Millisecond
)

// ledbat is the LEDBAT controller of one connection: a pure state machine fed with
// acknowledged bytes, one-way delay samples and losses; it owns the congestion window.
// One-way delay is the peer's timestamp_difference on its acks: its clock at receipt
// minus our clock at sending. The two clocks have an unknown offset, so only the
// difference from the minimum seen (the base delay) means anything: that is the
// queueing delay the controller steers to the target.
type ledbat struct {
	mss      int
	cwnd     int // bytes
	ssthresh int // slow start while cwnd < ssthresh and the queue is short
	target   int64

	base       [baseHistory]uint32 // per-minute minimum of the samples, newest last
	baseN      int
	baseStart  time.Time
	cur        [currentFilter]uint32
	curN, curI int

	lossAt time.Time // last window reduction, to halve at most once per RTT
}

func newLedbat(mss int, target time.Duration) *ledbat {
	if target <= 0 {
		target = defaultTarget
	}
	return &ledbat{mss: mss, cwnd: initCwndPkts * mss, ssthresh: 1 << 30, target: target.Microseconds()}
}

// setMSS changes the packet size during the handshake (setPacketSize); a window still
// at its initial size of packets grows with it, so that big packets start with the same
// number in flight as small ones.
func (l *ledbat) setMSS(mss int) {
	if l.cwnd == initCwndPkts*l.mss {
		l.cwnd = initCwndPkts * mss
	}
	l.mss = mss
}

func (l *ledbat) minCwnd() int { return minCwndPkts * l.mss }

// wrapLess compares microsecond timestamps that may have wrapped.
func wrapLess(a, b uint32) bool { return int32(a-b) < 0 }

// addDelay records one one-way delay sample (microseconds, arbitrary clock offset).
func (l *ledbat) addDelay(d uint32, now time.Time) {
	if l.baseN == 0 {
		l.base[0], l.baseN, l.baseStart = d, 1, now
	} else if now.Sub(l.baseStart) >= time.Minute {
		// A new minute starts a new bucket; the oldest falls out after baseHistory minutes,
		// so a route change that raises the true base delay is forgotten in time.
		if l.baseN == baseHistory {
			copy(l.base[:], l.base[1:])
			l.baseN--
		}
		l.base[l.baseN] = d
		l.baseN++
		l.baseStart = now
	} else if wrapLess(d, l.base[l.baseN-1]) {
		l.base[l.baseN-1] = d
	}
	l.cur[l.curI] = d
	l.curI = (l.curI + 1) % currentFilter
	if l.curN < currentFilter {
		l.curN++
	}
}

// baseDelay is the minimum of the history.
func (l *ledbat) baseDelay() uint32 {
	m := l.base[0]
	for _, d := range l.base[1:l.baseN] {
		if wrapLess(d, m) {
			m = d
		}
	}
	return m
}

// queuingDelay is the current delay (minimum of the last few samples, to filter noise)
// above the base delay, in microseconds; 0 before any sample.
func (l *ledbat) queuingDelay() int64 {
	if l.curN == 0 {
		return 0
	}
	c := l.cur[0]
	for _, d := range l.cur[1:l.curN] {
		if wrapLess(d, c) {
			c = d
		}
	}
	q := int64(int32(c - l.baseDelay()))
	if q < 0 {
		return 0
	}
	return q
}

// onAck grows or shrinks the window for bytesAcked newly acknowledged bytes. flight is
// the bytes that were outstanding before the ack: a window the sender does not fill is
// not grown (RFC 6817: cwnd <= flightsize + ALLOWED_INCREASE*MSS). Unlike the RFC we
// never shrink the window for being unfilled: pacing keeps the flight below the window
// on purpose, and shrinking for it would ratchet the window down.
func (l *ledbat) onAck(bytesAcked, flight int) {
	if bytesAcked <= 0 {
		return
	}
	q := l.queuingDelay()
	before := l.cwnd
	if l.cwnd < l.ssthresh {
		if q <= l.target/2 {
			l.cwnd += bytesAcked
			l.capGrowth(before, flight)
			return
		}
		// Queueing delay is building: leave slow start for the delay controller.
		l.ssthresh = l.cwnd
	}
	if q <= l.target {
		// RFC 6817: grow by GAIN * off_target MSS per window acknowledged.
		offTarget := float64(l.target-q) / float64(l.target)
		l.cwnd += int(ledbatGain * offTarget * float64(bytesAcked) * float64(l.mss) / float64(l.cwnd))
		l.capGrowth(before, flight)
	} else {
		// Above the target, shrink multiplicatively as LEDBAT++ does
		// (draft-irtf-iccrg-ledbat-plus-plus): by (delay/target - 1) of the window per
		// round trip, at most half. RFC 6817's additive decrease (about one packet per
		// round trip) takes tens of seconds to yield a large window to a TCP flow that
		// is filling a deep queue; this yields within a few round trips.
		over := min(float64(q-l.target)/float64(l.target), 0.5)
		l.cwnd -= int(over * float64(bytesAcked))
	}
	if l.cwnd < l.minCwnd() {
		l.cwnd = l.minCwnd()
	}
}

func (l *ledbat) capGrowth(before, flight int) {
	if m := max(before, flight+allowedIncr*l.mss); l.cwnd > m {
		l.cwnd = m
	}
}

// onLoss halves the window, at most once per round trip: the losses of one window are
// one congestion event.
func (l *ledbat) onLoss(now time.Time, rtt time.Duration) {
	if !l.lossAt.IsZero() && now.Sub(l.lossAt) < rtt {
		return
	}
	l.lossAt = now
	l.cwnd = max(l.cwnd/2, l.minCwnd())
	l.ssthresh = l.cwnd
}

// onTimeout collapses the window after a retransmission timeout (RFC 6817: cwnd = 1 MSS;
// we keep the minimum window) and restarts slow start up to half the old window.
func (l *ledbat) onTimeout() {
	l.ssthresh = max(l.cwnd/2, l.minCwnd())
	l.cwnd = l.minCwnd()
}
