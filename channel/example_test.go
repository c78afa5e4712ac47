package channel_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/speedbt/btt/channel"
)

func exampleKey(seed string) *channel.PrivateKey {
	b := sha256.Sum256([]byte(seed))
	k, _ := channel.NewPrivateKey(b[:])
	return k
}

// A provider learns the channel's terms from the ledger (ledger.Client.ChannelState), then
// accepts one voucher per verified piece, and finally has the ledger settle on the last one.
func Example() {
	requester, provider := exampleKey("requester"), exampleKey("provider")
	now := time.Unix(1_800_000_000, 0)
	open := channel.Open{Ledger: channel.LedgerID{1}, Payer: requester.Public(), Payee: provider.Public(),
		Amount: 5 * channel.UnitsPerBTT, Nonce: 1, Expiry: uint64(now.Add(time.Hour).Unix())}
	st := channel.State{ID: open.ID(), Payer: open.Payer, Payee: open.Payee, Deposit: open.Amount, Expiry: open.Expiry}

	var last channel.SignedVoucher
	for piece := uint32(0); piece < 3; piece++ {
		v := channel.SignVoucher(requester, channel.Voucher{Channel: st.ID, Sequence: uint64(piece) + 1,
			Cumulative: uint64(piece+1) * 250_000, Piece: piece})
		added, err := st.Accept(v, now)
		fmt.Println("piece", piece, "paid", channel.FormatBTT(added), err)
		last = v
	}
	_, err := st.Accept(last, now) // the same voucher again
	fmt.Println("replay:", errors.Is(err, channel.ErrStaleSequence))

	c := channel.SignClose(provider, last) // sent to the ledger: POST /v1/channels/{id}/close
	fmt.Println("close valid:", channel.VerifyCloseSig(st, c) == nil)
	// Output:
	// piece 0 paid 0.250000 <nil>
	// piece 1 paid 0.250000 <nil>
	// piece 2 paid 0.250000 <nil>
	// replay: true
	// close valid: true
}
