package bidext

import (
	"math/rand/v2"
	"testing"
)

// TestBudgetProperty: for random prices, torrents, channel opens that fail, vouchers and
// retirements, what was signed plus what deposits still hold never exceeds the budget, and
// a voucher never exceeds its channel's deposit.
func TestBudgetProperty(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		limit := 1 + r.Uint64N(1e12)
		b := NewBudget(limit)
		type ch struct{ deposit, used uint64 }
		var open []*ch
		var signedRetired uint64
		for step := 0; step < 300; step++ {
			switch r.IntN(5) {
			case 0, 1: // a torrent at some price opens a channel for the data it wants
				price := r.Uint64N(10 * UnitsPerBTT)
				want, _ := Owed(price, r.Uint64N(1<<34))
				g := b.Reserve(want + 1)
				if r.IntN(4) == 0 {
					b.Retire(g, 0) // the open failed
					continue
				}
				open = append(open, &ch{deposit: g})
			case 2: // pay on a channel, never beyond its deposit
				if len(open) == 0 {
					continue
				}
				c := open[r.IntN(len(open))]
				c.used += r.Uint64N(c.deposit - c.used + 1)
			case 3: // retire a channel
				if len(open) == 0 {
					continue
				}
				i := r.IntN(len(open))
				b.Retire(open[i].deposit, open[i].used)
				signedRetired += open[i].used
				open = append(open[:i], open[i+1:]...)
			case 4: // a price that is the bid for what is left
				if _, ok := BudgetBid(b.Left(), 1+r.Uint64N(1<<40), r.Uint64N(2*UnitsPerBTT)); !ok {
					t.Fatal("no bid with data wanted")
				}
			}
			var exposure uint64 = signedRetired
			for _, c := range open {
				exposure += c.deposit // signed on it plus what it may still sign
			}
			if exposure > limit || b.Committed() > limit {
				t.Fatalf("seed %d step %d: spend plus deposits %d (committed %d) over the budget %d", seed, step, exposure, b.Committed(), limit)
			}
			if exposure != b.Committed() {
				t.Fatalf("seed %d step %d: committed %d, actual %d", seed, step, b.Committed(), exposure)
			}
		}
	}
}

func TestBudgetBid(t *testing.T) {
	for _, c := range []struct{ spendable, remaining, max, want uint64 }{
		{UnitsPerBTT, PriceDataBytes, 0, UnitsPerBTT},
		{UnitsPerBTT, 2 * PriceDataBytes, 0, UnitsPerBTT / 2},
		{UnitsPerBTT, PriceDataBytes, UnitsPerBTT / 4, UnitsPerBTT / 4},
		{0, PriceDataBytes, 0, 0},
	} {
		if got, _ := BudgetBid(c.spendable, c.remaining, c.max); got != c.want {
			t.Errorf("BudgetBid(%d, %d, %d) = %d, want %d", c.spendable, c.remaining, c.max, got, c.want)
		}
	}
	// A constant price spends the budget at a constant bid: no compounding.
	spendable, remaining := uint64(10*UnitsPerBTT), uint64(10*PriceDataBytes)
	first, _ := BudgetBid(spendable, remaining, 0)
	for range 9 {
		cost, _ := Owed(first, PriceDataBytes)
		spendable, remaining = spendable-cost, remaining-PriceDataBytes
		if bid, _ := BudgetBid(spendable, remaining, 0); bid != first {
			t.Fatalf("bid moved from %d to %d as the budget was spent", first, bid)
		}
	}
}
