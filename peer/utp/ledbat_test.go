package utp

import (
	"testing"
	"time"
)

func TestLedbatWindow(t *testing.T) {
	const mss = 1420
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name   string
		base   uint32 // one-way delay with no queue (arbitrary clock offset)
		queue  time.Duration
		grows  bool
		minCwd bool // ends at the minimum window
	}{
		{"empty queue grows", 4_000_000_000, 0, true, false},
		{"below target grows", 10, 40 * time.Millisecond, true, false},
		{"above target shrinks to minimum", 4294967000, 300 * time.Millisecond, false, true}, // wraps
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedbat(mss, 100*time.Millisecond)
			l.ssthresh = 20 * mss // leave slow start early
			l.cwnd = 20 * mss
			now := t0
			l.addDelay(tt.base, now)
			start := l.cwnd
			for range 2000 {
				now = now.Add(time.Millisecond)
				l.addDelay(tt.base+uint32(tt.queue.Microseconds()), now)
				l.onAck(mss, l.cwnd)
			}
			if q := time.Duration(l.queuingDelay()) * time.Microsecond; q != tt.queue {
				t.Errorf("queuing delay %v, want %v", q, tt.queue)
			}
			if tt.grows != (l.cwnd > start) {
				t.Errorf("cwnd %d from %d, grows=%v", l.cwnd, start, tt.grows)
			}
			if tt.minCwd && l.cwnd != l.minCwnd() {
				t.Errorf("cwnd %d, want minimum %d", l.cwnd, l.minCwnd())
			}
		})
	}
}

func TestLedbatLossHalvesOncePerRTT(t *testing.T) {
	l := newLedbat(1000, 0)
	l.cwnd = 64000
	now := time.Unix(0, 0)
	l.onLoss(now, 50*time.Millisecond)
	l.onLoss(now.Add(10*time.Millisecond), 50*time.Millisecond)
	if l.cwnd != 32000 {
		t.Fatalf("cwnd %d after two losses in one RTT, want 32000", l.cwnd)
	}
	l.onLoss(now.Add(60*time.Millisecond), 50*time.Millisecond)
	if l.cwnd != 16000 {
		t.Fatalf("cwnd %d, want 16000", l.cwnd)
	}
	l.onTimeout()
	if l.cwnd != l.minCwnd() || l.ssthresh != 8000 {
		t.Fatalf("after timeout cwnd %d ssthresh %d", l.cwnd, l.ssthresh)
	}
}

func TestLedbatBaseHistoryForgets(t *testing.T) {
	l := newLedbat(1000, 0)
	now := time.Unix(0, 0)
	l.addDelay(1000, now) // an old, low base
	for i := range 11 {
		now = now.Add(time.Minute)
		l.addDelay(50_000, now)
		_ = i
	}
	if b := l.baseDelay(); b != 50_000 {
		t.Fatalf("base delay %d after %d minutes, want the old minimum forgotten", b, baseHistory+1)
	}
}

func TestLedbatAppLimitedDoesNotGrow(t *testing.T) {
	l := newLedbat(1000, 0)
	l.addDelay(5, time.Unix(0, 0))
	for range 1000 {
		l.onAck(1000, 1000) // only one packet ever outstanding
	}
	if want := max(initCwndPkts, 1+allowedIncr) * 1000; l.cwnd != want {
		t.Fatalf("cwnd %d, want %d: an unfilled window must neither grow nor shrink", l.cwnd, want)
	}
}

func TestRTTEstimator(t *testing.T) {
	var r rttEstimator
	if r.timeout() != initialRTO {
		t.Fatalf("initial RTO %v", r.timeout())
	}
	for range 20 {
		r.sample(10 * time.Millisecond)
	}
	if r.timeout() != minRTO {
		t.Fatalf("RTO %v, want floor %v", r.timeout(), minRTO)
	}
	r.backoff = 3
	if r.timeout() != 8*minRTO {
		t.Fatalf("backed off RTO %v", r.timeout())
	}
	r.backoff = 30
	if r.timeout() != maxRTO {
		t.Fatalf("RTO %v, want cap", r.timeout())
	}
}
