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

// TestMeterNoDrift bills many odd-sized pieces one at a time at alternating prices: the
// cumulative amount is the floor of the exact total per price, never the sum of
// per-piece floors, and does not depend on the order.
func TestMeterNoDrift(t *testing.T) {
	var m, rev Meter
	type bill struct{ price, n uint64 }
	var bills []bill
	for i := range 1000 {
		bills = append(bills, bill{999_999, 16383}, bill{uint64(5 + i%2), 3 << 20}, bill{0, 1 << 30})
	}
	for _, b := range bills {
		if _, err := m.Add(b.price, b.n); err != nil {
			t.Fatal(err)
		}
	}
	for i := len(bills) - 1; i >= 0; i-- {
		if _, err := rev.Add(bills[i].price, bills[i].n); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := Owed(999_999, 1000*16383)
	b, _ := Owed(5, 500*(3<<20))
	c, _ := Owed(6, 500*(3<<20))
	if want := a + b + c; m.Total() != want || rev.Total() != want {
		t.Fatalf("total %d (reversed %d), want %d", m.Total(), rev.Total(), want)
	}
	if m.Bytes(0) != 0 || m.Bytes(5) != 500*(3<<20) {
		t.Fatalf("bytes per price: free %d, at 5: %d", m.Bytes(0), m.Bytes(5))
	}
}

func TestMeterErrorsLeaveState(t *testing.T) {
	var m Meter
	if _, err := m.Add(math.MaxUint64, 1<<30); err != nil {
		t.Fatal(err)
	}
	check := func(name string, price, n uint64, want error) {
		t.Helper()
		total, bytes := m.Total(), m.Bytes(price)
		if _, err := m.Add(price, n); !errors.Is(err, want) {
			t.Fatalf("%s: err = %v, want %v", name, err, want)
		}
		if m.Total() != total || m.Bytes(price) != bytes {
			t.Fatalf("%s: failed Add changed the meter", name)
		}
	}
	check("amount overflow", math.MaxUint64, 1, ErrOverflow)
	check("total overflow", 1, 1<<30, ErrOverflow)
	check("huge byte count", 1, math.MaxUint64, ErrOverflow)
	var many Meter
	for p := uint64(1); p <= MaxMeterPrices; p++ {
		if _, err := many.Add(p, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := many.Add(MaxMeterPrices+1, 1); !errors.Is(err, ErrTooManyPrices) {
		t.Fatalf("err = %v, want ErrTooManyPrices", err)
	}
	if _, err := many.Add(7, 1); err != nil {
		t.Fatalf("known price refused: %v", err)
	}
}
