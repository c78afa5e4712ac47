package ledgertest_test

import (
	"context"
	"testing"

	"github.com/speedbt/btt/internal/ledgertest"
)

// A started ledger answers over HTTP, its treasury holds the supply, and Funded moves
// exactly what it is asked to.
func TestStartFunded(t *testing.T) {
	s := ledgertest.Start(t, nil, nil)
	ctx := context.Background()
	in, err := s.Client.Info(ctx)
	if err != nil || in.Total != in.Supply {
		t.Fatalf("info %+v, %v", in, err)
	}
	for _, units := range []uint64{0, 1234} {
		k := s.Funded(t, units)
		acc, err := s.Client.Balance(ctx, k.Address())
		if err != nil || uint64(acc.Balance) != units {
			t.Errorf("funded with %d: balance %+v, %v", units, acc, err)
		}
	}
	tr, err := s.Client.Balance(ctx, s.Treasury.Address())
	if err != nil || uint64(tr.Balance) != uint64(in.Supply)-1234 {
		t.Errorf("treasury %+v, %v; want the supply %d less 1234", tr, err, in.Supply)
	}
}
