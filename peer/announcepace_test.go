package peer

import (
	"testing"
	"time"
)

func TestAnnouncePacer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gap := time.Second / announceRate
	for _, tc := range []struct {
		name string
		at   []time.Duration // when each announce falls due, from t0
		want []time.Duration // the slot it gets
	}{
		{"a lone announce goes at once", []time.Duration{0}, []time.Duration{0}},
		{"announces further apart than the gap go at once",
			[]time.Duration{0, time.Second, 3 * time.Second}, []time.Duration{0, time.Second, 3 * time.Second}},
		{"announces due together are spaced",
			[]time.Duration{0, 0, 0, 0}, []time.Duration{0, gap, 2 * gap, 3 * gap}},
		{"a later one waits for the queue ahead of it",
			[]time.Duration{0, 0, 0, gap}, []time.Duration{0, gap, 2 * gap, 3 * gap}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p announcePacer
			for i, d := range tc.at {
				if got := p.slot(t0.Add(d)).Sub(t0); got != tc.want[i] {
					t.Errorf("announce %d due at %v: slot %v, want %v", i, d, got, tc.want[i])
				}
			}
		})
	}
	// A catalogue of 1,000 torrents added in one second is announced over 1000/announceRate s.
	var p announcePacer
	var last time.Time
	for i := range 1000 {
		last = p.slot(t0.Add(time.Duration(i) * time.Millisecond))
	}
	if got, want := last.Sub(t0), 999*gap; got != want {
		t.Errorf("1,000 announces: the last at %v, want %v", got, want)
	}
}
