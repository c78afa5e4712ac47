package utp

import (
	"sync"
	"time"
)

// deadline is a settable point in time whose passing closes a channel, the same design
// as net.Pipe's: a blocked Read or Write selects on wait().
//
// One timer serves all the deadlines set: a BitTorrent connection moves its deadlines on
// with every block (SetWriteDeadline per block sent, SetReadDeadline per message), and a
// new timer each time was 4-7% of a loopback seeder's CPU (docs/performance.md). A later
// deadline leaves an armed timer alone: when it fires early, fire arms it again for what
// is now the deadline.
type deadline struct {
	mu     sync.Mutex
	at     time.Time // the deadline; zero: none
	timer  *time.Timer
	armed  time.Time     // when timer fires; zero: not armed
	cancel chan struct{} // closed when the deadline passes
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = t
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		d.disarm()
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		if !closed {
			close(d.cancel)
		}
		d.disarm()
		return
	}
	if closed {
		d.cancel = make(chan struct{})
	}
	if !d.armed.IsZero() && !d.armed.After(t) {
		return // fires first, and arms again for t
	}
	d.arm(t, dur)
}

func (d *deadline) arm(t time.Time, dur time.Duration) {
	d.armed = t
	if d.timer == nil {
		d.timer = time.AfterFunc(dur, d.fire)
		return
	}
	d.timer.Reset(dur)
}

func (d *deadline) disarm() {
	if d.timer != nil && !d.armed.IsZero() {
		d.timer.Stop()
	}
	d.armed = time.Time{}
}

// fire runs on the timer. It may run late, after set changed the deadline (the timer
// had started when set stopped or reset it): it acts on the deadline as it is now.
func (d *deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = time.Time{}
	if d.at.IsZero() || isClosed(d.cancel) {
		return
	}
	if dur := time.Until(d.at); dur > 0 {
		d.arm(d.at, dur)
		return
	}
	close(d.cancel)
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// stop cancels a pending timer, so that a connection that is gone leaves none behind (a
// flood of short-lived connections would otherwise fire one goroutine each, much later).
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = time.Time{}
	d.disarm()
}
