package bidext

import (
	"testing"
	"time"
)

func TestAutoBid(t *testing.T) {
	tests := []struct {
		name      string
		balance   uint64
		rate      uint32
		remaining uint64
		want      uint64
		ok        bool
	}{
		{"nothing remains: no bid", 1e9, PPM, 0, 0, false},
		{"10 BTT over 1 GiB at rate 1", 10 * UnitsPerBTT, PPM, 1 << 30, 10 * UnitsPerBTT, true},
		{"10 BTT over 4 GiB", 10 * UnitsPerBTT, PPM, 4 << 30, 2_500_000, true},
		{"rate 0.25", 10 * UnitsPerBTT, PPM / 4, 1 << 30, 2_500_000, true},
		{"rate above 1 counts as 1", 10 * UnitsPerBTT, 5 * PPM, 1 << 30, 10 * UnitsPerBTT, true},
		{"empty wallet", 0, PPM, 1 << 30, 0, true},
		{"floors: 1 unit over 3 GiB", 1, PPM, 3 << 30, 0, true},
		{"1 byte left of a big balance clamps", 1 << 62, PPM, 1, MaxPrice, true},
		{"huge balance, huge remaining", 1<<64 - 1, PPM, 1<<64 - 1, 1 << 30, true},
	}
	for _, tt := range tests {
		got, ok := AutoBid(tt.balance, tt.rate, tt.remaining)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: AutoBid = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBidder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const gib = 1 << 30
	type step struct {
		at        time.Duration
		do        func(*Bidder)
		balance   uint64
		remaining uint64
		bid       uint64
		send      bool
	}
	tests := []struct {
		name    string
		enabled bool
		steps   []step
	}{
		{"disabled sends nothing", false, []step{
			{0, nil, 100, gib, 0, false},
			{time.Hour, nil, 100, gib, 0, false},
		}},
		{"first bid at once, small moves held, big moves after a minute", true, []step{
			{0, nil, 1000, gib, 1000, true},
			{time.Second, nil, 1000, gib, 1000, false},     // unchanged
			{2 * time.Second, nil, 1050, gib, 1000, false}, // +5 %: held
			{3 * time.Second, nil, 1200, gib, 1000, false}, // +20 % but within the minute
			{61 * time.Second, nil, 1200, gib, 1200, true}, // +20 % after a minute
			{2 * time.Minute, nil, 1100, gib, 1200, false}, // -8.3 %: held
			{3 * time.Minute, nil, 1320, gib, 1200, false}, // +10 % exactly: not more than 10 %
			{4 * time.Minute, nil, 1321, gib, 1321, true},
		}},
		{"user change goes out at once", true, []step{
			{0, nil, 1000, gib, 1000, true},
			{time.Second, func(b *Bidder) { b.SetRate(PPM / 2) }, 1000, gib, 500, true},
			{2 * time.Second, func(b *Bidder) { b.BalanceChanged() }, 1010, gib, 505, true}, // +1 %, but the user did it
			{3 * time.Second, func(b *Bidder) { b.SetEnabled(false) }, 1010, gib, 0, true},  // withdrawal
			{4 * time.Second, func(b *Bidder) { b.SetEnabled(true) }, 1010, gib, 505, true},
			{5 * time.Second, func(b *Bidder) { b.SetRate(PPM / 2) }, 1010, gib, 505, false}, // no change
		}},
		{"nothing left withdraws at once", true, []step{
			{0, nil, 1000, gib, 1000, true},
			{time.Second, nil, 1000, 0, 0, true},
			{2 * time.Second, nil, 1000, 0, 0, false},
			{3 * time.Second, nil, 1000, gib, 0, false}, // resuming waits for the minute
			{time.Minute + time.Second, nil, 1000, gib, 1000, true},
		}},
		{"empty wallet never bids", true, []step{
			{0, nil, 0, gib, 0, false},
			{time.Hour, func(b *Bidder) { b.BalanceChanged() }, 0, gib, 0, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBidder(tt.enabled, PPM)
			for i, s := range tt.steps {
				if s.do != nil {
					s.do(b)
				}
				bid, send := b.Next(t0.Add(s.at), s.balance, s.remaining)
				if bid != s.bid || send != s.send {
					t.Fatalf("step %d: Next = %d, %v; want %d, %v", i, bid, send, s.bid, s.send)
				}
			}
		})
	}
}
