package peer

import (
	"testing"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/piece"
)

// TestBillableKeepsEachPrice: a piece whose blocks came under two prices (the provider
// re-priced us between them) is paid at each block's own price, the amount the provider's
// book bills, not all at the latest price (which struck an honest requester re-priced from
// 1.5 BTT to 0.5 mid-piece: conformance.TestHonestLeechersNotBanned).
func TestBillableKeepsEachPrice(t *testing.T) {
	const hi, lo = 1531214953, 500000
	tests := []struct {
		name   string
		prices []uint64 // one per block, in arrival order
	}{
		{"one price", []uint64{hi, hi, hi, hi}},
		{"re-priced down", []uint64{hi, hi, lo, lo}},
		{"re-priced up", []uint64{lo, hi, hi, hi}},
		{"and back", []uint64{hi, lo, hi, lo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bs []billableBytes
			var provider bidext.Meter // bills each block at the price it was served under
			for _, p := range tt.prices {
				bs = addBillable(bs, p, piece.BlockSize)
				if _, err := provider.Add(p, piece.BlockSize); err != nil {
					t.Fatal(err)
				}
			}
			if len(bs) > len(tt.prices) {
				t.Errorf("%d entries for %d blocks", len(bs), len(tt.prices))
			}
			var requester bidext.Meter
			for _, b := range bs {
				if _, err := requester.Add(b.price, b.bytes); err != nil {
					t.Fatal(err)
				}
			}
			if requester.Total() != provider.Total() {
				t.Errorf("requester owes %d, provider billed %d", requester.Total(), provider.Total())
			}
		})
	}
}
