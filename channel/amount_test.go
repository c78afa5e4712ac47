package channel

import (
	"errors"
	"math"
	"testing"
)

func TestParseBTT(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"1", 1_000_000, true}, {"0.5", 500_000, true}, {".5", 500_000, true},
		{"1.000001", 1_000_001, true}, {"990000000000", GenesisSupply, true},
		{"18446744073709.551615", math.MaxUint64, true},
		{"18446744073709.551616", 0, false}, {"18446744073710", 0, false},
		{"99999999999999999999999", 0, false},
		{"", 0, false}, {".", 0, false}, {"1.", 0, false}, {"-1", 0, false}, {"+1", 0, false},
		{"1e6", 0, false}, {"1.0000001", 0, false}, {"0x10", 0, false}, {" 1", 0, false}, {"1,5", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseBTT(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("ParseBTT(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if !tt.ok && !errors.Is(err, ErrBadAmount) {
			t.Errorf("ParseBTT(%q) = %d, %v; want ErrBadAmount", tt.in, got, err)
		}
	}
}

func TestFormatBTT(t *testing.T) {
	for units, want := range map[uint64]string{0: "0.000000", 1: "0.000001", 1_500_000: "1.500000",
		GenesisSupply: "990000000000.000000", math.MaxUint64: "18446744073709.551615"} {
		if got := FormatBTT(units); got != want {
			t.Errorf("FormatBTT(%d) = %s, want %s", units, got, want)
		}
		if back, err := ParseBTT(want); err != nil || back != units {
			t.Errorf("ParseBTT(FormatBTT(%d)) = %d, %v", units, back, err)
		}
	}
}

func TestAddAmounts(t *testing.T) {
	if s, err := AddAmounts(math.MaxUint64-1, 1); err != nil || s != math.MaxUint64 {
		t.Errorf("max-1 + 1 = %d, %v", s, err)
	}
	if _, err := AddAmounts(math.MaxUint64, 1); !errors.Is(err, ErrOverflow) {
		t.Errorf("max + 1: %v, want ErrOverflow", err)
	}
	if _, err := AddAmounts(1<<63, 1<<63); !errors.Is(err, ErrOverflow) {
		t.Errorf("2^63 + 2^63: %v, want ErrOverflow", err)
	}
}
