package bidext

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestOwed(t *testing.T) {
	tests := []struct {
		price, n uint64
		want     uint64
		err      error
	}{
		{0, 1 << 40, 0, nil},
		{UnitsPerBTT, PriceDataBytes, UnitsPerBTT, nil}, // 1 BTT/GiB for 1 GiB
		{UnitsPerBTT, 256 << 10, 244, nil},              // a 256 KiB piece: 244.14 units, floored
		{1, PriceDataBytes - 1, 0, nil},
		{3, PriceDataBytes / 2, 1, nil}, // 1.5 -> 1
		{MaxPrice, PriceDataBytes, MaxPrice, nil},
		{math.MaxUint64, 1 << 30, math.MaxUint64, nil},
		{math.MaxUint64, 1<<30 + 1, 0, ErrOverflow},
		{1 << 40, 1 << 54, 0, ErrOverflow},
	}
	for _, tt := range tests {
		got, err := Owed(tt.price, tt.n)
		if !errors.Is(err, tt.err) || (err == nil && got != tt.want) {
			t.Errorf("Owed(%d, %d) = %d, %v; want %d, %v", tt.price, tt.n, got, err, tt.want, tt.err)
		}
	}
}

func TestOwedMatchesBigInt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	limit := new(big.Int).Lsh(big.NewInt(1), 64)
	for range 10000 {
		p, n := rng.Uint64()>>rng.IntN(64), rng.Uint64()>>rng.IntN(64)
		want := new(big.Int).Mul(new(big.Int).SetUint64(p), new(big.Int).SetUint64(n))
		want.Rsh(want, PriceDataShift)
		got, err := Owed(p, n)
		if want.Cmp(limit) >= 0 {
			if err == nil {
				t.Fatalf("Owed(%d, %d) = %d, want overflow", p, n, got)
			}
			continue
		}
		if err != nil || got != want.Uint64() {
			t.Fatalf("Owed(%d, %d) = %d, %v; want %s", p, n, got, err, want)
		}
	}
}

// TestMeterNoDrift bills many odd-sized pieces one at a time: the cumulative amount equals
// the floor of the exact total per price period, never the sum of per-piece floors.
func TestMeterNoDrift(t *testing.T) {
	var m Meter
	if err := m.SetPrice(999_999); err != nil {
		t.Fatal(err)
	}
	var bytes1 uint64
	for range 1000 {
		if _, err := m.Add(16383); err != nil {
			t.Fatal(err)
		}
		bytes1 += 16383
	}
	want1, _ := Owed(999_999, bytes1)
	if m.Total() != want1 {
		t.Fatalf("after period 1: %d, want %d", m.Total(), want1)
	}
	if err := m.SetPrice(5); err != nil {
		t.Fatal(err)
	}
	got, err := m.Add(3 << 30)
	if err != nil {
		t.Fatal(err)
	}
	if want := want1 + 15; got != want {
		t.Fatalf("after period 2: %d, want %d", got, want)
	}
	if err := m.SetPrice(5); err != nil || m.Total() != got {
		t.Fatalf("same price started a period: %v %d", err, m.Total())
	}
}

func TestMeterOverflowLeavesState(t *testing.T) {
	var m Meter
	_ = m.SetPrice(math.MaxUint64)
	if _, err := m.Add(1 << 30); err != nil {
		t.Fatal(err)
	}
	before := m
	if _, err := m.Add(1); !errors.Is(err, ErrOverflow) {
		t.Fatalf("err = %v, want overflow", err)
	}
	if m != before {
		t.Fatal("failed Add changed the meter")
	}
	if err := m.SetPrice(1); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(1 << 30); !errors.Is(err, ErrOverflow) {
		t.Fatalf("settled + new: err = %v, want overflow", err)
	}
}
