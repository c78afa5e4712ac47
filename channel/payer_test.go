package channel

import (
	"errors"
	"testing"
)

func TestPayerProviderAgree(t *testing.T) {
	payer, payee, st := testChannel(t)
	o := Open{Payer: payer.Public(), Payee: payee.Public(), Amount: 1000, Nonce: 7, Expiry: st.Expiry}
	o.Ledger[0] = 1
	if _, err := NewPayer(payee, &o); err == nil {
		t.Fatal("NewPayer accepted the payee's key")
	}
	p, err := NewPayer(payer, &o)
	if err != nil || p.Channel() != st.ID {
		t.Fatalf("NewPayer: %v", err)
	}
	for i, amt := range []uint64{300, 0, 600, 100} {
		v, err := p.Pay(amt, uint32(i))
		if err != nil {
			t.Fatalf("Pay(%d): %v", amt, err)
		}
		added, err := st.Accept(v, testNow)
		if err != nil || added != amt {
			t.Fatalf("provider: added %d, %v; want %d", added, err, amt)
		}
	}
	if p.Remaining() != 0 || p.Paid() != 1000 {
		t.Fatalf("remaining %d paid %d", p.Remaining(), p.Paid())
	}
	if _, err := p.Pay(1, 9); !errors.Is(err, ErrOverDeposit) {
		t.Fatalf("Pay beyond the deposit: %v", err)
	}
	if p.Paid() != 1000 {
		t.Fatal("a refused Pay changed the state")
	}
}

func TestParseVoucherRoundTrip(t *testing.T) {
	v := Voucher{Channel: ChannelID{1, 2, 3}, Sequence: 7, Cumulative: 1 << 40, Piece: 9}
	b, _ := v.AppendBinary(nil)
	got, err := ParseVoucher(b)
	if err != nil || got != v {
		t.Fatalf("ParseVoucher = %+v, %v; want %+v", got, err, v)
	}
	for _, bad := range [][]byte{b[:67], append(b, 0), append([]byte("speedbt.vouch.v2"), b[16:]...)} {
		if _, err := ParseVoucher(bad); !errors.Is(err, ErrLayout) {
			t.Errorf("ParseVoucher(%x) = %v, want ErrLayout", bad, err)
		}
	}
}
