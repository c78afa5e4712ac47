package bidext

import "time"

// Payment timing of docs/bep-speed.md, section 8.1.
const (
	// PaymentTimeout: a voucher covering a billable piece must arrive this soon after
	// the requester's HAVE for it.
	PaymentTimeout = 30 * time.Second
	// StrikeLimit payment failures within StrikeWindow ban the requester for BanTime.
	StrikeLimit  = 3
	StrikeWindow = time.Hour
	BanTime      = time.Hour
)

// Strikes counts one requester's payment failures (or one provider's hash failures) and
// says when it is banned. The clock is passed in; the zero value uses the defaults above.
type Strikes struct {
	// Limit, Window and Ban override the defaults when non-zero.
	Limit  int
	Window time.Duration
	Ban    time.Duration

	times []time.Time // failures inside the window, oldest first
	until time.Time
}

func (s *Strikes) limits() (int, time.Duration, time.Duration) {
	l, w, b := s.Limit, s.Window, s.Ban
	if l <= 0 {
		l = StrikeLimit
	}
	if w <= 0 {
		w = StrikeWindow
	}
	if b <= 0 {
		b = BanTime
	}
	return l, w, b
}

// Fail records a failure at now and reports whether the peer is now banned. Reaching the
// limit within the window starts a ban and clears the count.
func (s *Strikes) Fail(now time.Time) bool {
	limit, window, ban := s.limits()
	kept := s.times[:0]
	for _, t := range s.times {
		if now.Sub(t) < window {
			kept = append(kept, t)
		}
	}
	s.times = append(kept, now)
	if len(s.times) >= limit {
		s.times = s.times[:0]
		s.until = now.Add(ban)
	}
	return s.Banned(now)
}

// Banned reports whether the peer is banned at now.
func (s *Strikes) Banned(now time.Time) bool { return now.Before(s.until) }
