package bidext_test

import (
	"fmt"

	"github.com/speedbt/btt/bidext"
)

// A requester pays 2 BTT/GiB for three 256 KiB pieces and a last piece of 100,000
// bytes: the cumulative amount is floored once, not per piece.
func ExampleMeter() {
	var m bidext.Meter
	for _, n := range []uint64{256 << 10, 256 << 10, 256 << 10, 100_000} {
		total, _ := m.Add(2*bidext.UnitsPerBTT, n)
		fmt.Println(total)
	}
	// Output:
	// 488
	// 976
	// 1464
	// 1651
}

func ExampleAutoBid() {
	// 10 BTT to spend at rate 1.0 on 4 GiB still wanted: 2.5 BTT per GiB.
	bid, ok := bidext.AutoBid(10*bidext.UnitsPerBTT, bidext.DefaultSpendingRate, 4<<30)
	fmt.Println(bid, ok)
	// Output: 2500000 true
}
