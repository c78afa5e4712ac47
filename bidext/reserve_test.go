package bidext

import (
	"math"
	"testing"
	"time"
)

func TestReserveAt(t *testing.T) {
	day := 24 * time.Hour
	def := DefaultReserve()
	lin := ReserveConfig{Curve: Linear, Grace: time.Hour, Start: 10, Step: 5, Period: time.Hour, Cap: 30}
	tests := []struct {
		name    string
		cfg     ReserveConfig
		elapsed time.Duration
		want    uint64
	}{
		{"default: 0 at completion", def, 0, 0},
		{"default: 0 through the grace day", def, day, 0},
		{"default: start after a day", def, day + time.Second, 100_000},
		{"default: doubles daily", def, 3*day + time.Second, 400_000},
		{"default: capped", def, 30 * day, 100 * UnitsPerBTT},
		{"default: capped forever", def, math.MaxInt64, 100 * UnitsPerBTT},
		{"negative elapsed", def, -time.Hour, 0},
		{"linear start", lin, 90 * time.Minute, 10},
		{"linear two steps", lin, 3 * time.Hour, 20},
		{"linear capped", lin, 100 * time.Hour, 30},
		{"cap 0 means no reserve", ReserveConfig{Start: 5, Cap: 0}, day, 0},
		{"no period: constant", ReserveConfig{Start: 5, Cap: 9}, 1000 * day, 5},
		{"fixed from the start", ReserveConfig{Curve: Linear, Start: 7, Cap: 7}, time.Nanosecond, 7},
		{"huge step saturates", ReserveConfig{Curve: Linear, Start: 1, Step: math.MaxUint64, Period: 1, Cap: math.MaxUint64}, 10, MaxPrice},
		{"doubling from 0 stays 0", ReserveConfig{Period: 1, Cap: 100}, math.MaxInt64, 0},
	}
	for _, tt := range tests {
		if got := tt.cfg.At(tt.elapsed); got != tt.want {
			t.Errorf("%s: At(%v) = %d, want %d", tt.name, tt.elapsed, got, tt.want)
		}
	}
}

func TestReserveMonotonic(t *testing.T) {
	for _, cfg := range []ReserveConfig{DefaultReserve(),
		{Curve: Linear, Grace: time.Minute, Start: 3, Step: 1 << 60, Period: time.Minute, Cap: math.MaxUint64}} {
		prev := uint64(0)
		for e := time.Duration(0); e < 200*24*time.Hour; e += 37 * time.Minute {
			p := cfg.At(e)
			if p < prev || p > cfg.Cap {
				t.Fatalf("%+v: At(%v) = %d after %d", cfg, e, p, prev)
			}
			prev = p
		}
	}
}

func TestBidRadicallyLower(t *testing.T) {
	tests := []struct {
		claimed, real uint64
		want          bool
	}{
		{0, 0, false},
		{100, 50, false},
		{100, 49, true},
		{101, 51, false},
		{101, 50, true},
		{100, 1000, false},
		{math.MaxUint64, math.MaxUint64 / 2, true},
		{math.MaxUint64, math.MaxUint64/2 + 1, false},
	}
	for _, tt := range tests {
		if got := BidRadicallyLower(tt.claimed, tt.real); got != tt.want {
			t.Errorf("BidRadicallyLower(%d, %d) = %v, want %v", tt.claimed, tt.real, got, tt.want)
		}
	}
}

func TestSettingsFor(t *testing.T) {
	half := uint32(PPM / 2)
	fixed := ReserveConfig{Start: 9, Cap: 9}
	def := DefaultSettings()
	if e := def.For(TorrentSettings{}); e.Bid || e.Auction {
		t.Fatalf("Speed must be off by default: %+v", e)
	}
	on := def
	on.Enabled = true
	if e := on.For(TorrentSettings{}); !e.Bid || !e.Auction || e.SpendingRate != PPM || e.Reserve != DefaultReserve() {
		t.Fatalf("enabled defaults: %+v", e)
	}
	if e := on.For(TorrentSettings{Off: true}); e.Bid || e.Auction {
		t.Fatalf("per-torrent off ignored: %+v", e)
	}
	if e := on.For(TorrentSettings{SpendingRate: &half, Reserve: &fixed}); e.SpendingRate != half || e.Reserve != fixed {
		t.Fatalf("overrides ignored: %+v", e)
	}
}
