package bidext

import (
	"testing"
	"time"
)

func TestStrikes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var s Strikes
	steps := []struct {
		fail   bool
		at     time.Duration
		banned bool
	}{
		{true, 0, false},
		{true, 30 * time.Minute, false},
		{true, 61 * time.Minute, false}, // the first failure left the window
		{false, 62 * time.Minute, false},
		{true, 70 * time.Minute, true}, // three within the hour
		{false, 129 * time.Minute, true},
		{false, 130 * time.Minute, false}, // the ban is over
		{true, 131 * time.Minute, false},  // the count restarted with the ban
	}
	for i, st := range steps {
		var got bool
		if st.fail {
			got = s.Fail(at(st.at))
		} else {
			got = s.Banned(at(st.at))
		}
		if got != st.banned {
			t.Fatalf("step %d: banned = %v, want %v", i, got, st.banned)
		}
	}
	custom := Strikes{Limit: 1, Ban: time.Minute}
	if !custom.Fail(t0) || custom.Banned(t0.Add(time.Minute)) {
		t.Error("custom limits ignored")
	}
}
