package ledger_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

// TestTransferResultJSON: the writer's hand-written encoding of a transfer's answer is
// byte for byte json.Marshal's, for edge and random values (the zero address included).
func TestTransferResultJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	addr := func() channel.Address {
		var a channel.Address
		if rng.IntN(5) > 0 {
			a[0] = channel.AddressPrefix
			for i := 1; i < len(a); i++ {
				a[i] = byte(rng.Uint32())
			}
		}
		return a
	}
	u := func() ledger.U64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return math.MaxUint64
		default:
			return ledger.U64(rng.Uint64() >> rng.IntN(64))
		}
	}
	for range 2000 {
		r := ledger.TransferResult{From: addr(), To: addr(), Amount: u(), Nonce: u(), Balance: u()}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := ledger.AppendTransferJSON(&r); !bytes.Equal(got, want) {
			t.Fatalf("hand-written %s\njson.Marshal %s", got, want)
		}
	}
}
