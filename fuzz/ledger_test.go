package fuzz

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

func fuzzKey(seed byte) *channel.PrivateKey {
	b := sha256.Sum256([]byte{seed})
	k, _ := channel.NewPrivateKey(b[:])
	return k
}

// strictDecode decodes the way the ledger's HTTP server does.
func strictDecode(in []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// FuzzLedgerRequest decodes arbitrary bytes as each signed ledger request, re-encodes what
// decoded and checks that it decodes to the same value and the same signed digest.
func FuzzLedgerRequest(f *testing.F) {
	id := channel.LedgerID{7}
	k, payee := fuzzKey(1), fuzzKey(2)
	tr := ledger.TransferRequest{To: payee.Address(), Amount: 5, Nonce: 9}
	tr.Sign(id, k)
	op := ledger.OpenRequest{Payee: payee.Public(), Amount: 100, Nonce: 1, Expiry: 1 << 31}
	op.Sign(id, k)
	m := op.Message(id)
	v := channel.SignVoucher(k, channel.Voucher{Channel: m.ID(), Sequence: 1, Cumulative: 40})
	cl := ledger.NewCloseRequest(k.Public(), payee.Public(), channel.SignClose(payee, v))
	ac := ledger.AccountRequest{Nonce: 3}
	ac.Sign(id, k)
	for _, x := range []any{&tr, &op, &cl, &ac, &ledger.FaucetRequest{PubKey: k.Public(), Work: 12}} {
		b, _ := json.Marshal(x)
		f.Add(b)
	}
	f.Add([]byte(`{"amount":1.5}`))
	f.Add([]byte(`{"nonce":"007"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		roundTrip(t, in, func() any { return new(ledger.TransferRequest) }, func(x any) [32]byte { return x.(*ledger.TransferRequest).Digest(id) })
		roundTrip(t, in, func() any { return new(ledger.OpenRequest) }, func(x any) [32]byte { m := x.(*ledger.OpenRequest).Message(id); return m.Digest() })
		roundTrip(t, in, func() any { return new(ledger.CloseRequest) }, func(x any) [32]byte {
			c := x.(*ledger.CloseRequest).Close(channel.ChannelID{1})
			return channel.CloseDigest(&c.Voucher.Voucher)
		})
		roundTrip(t, in, func() any { return new(ledger.AccountRequest) }, func(x any) [32]byte { return x.(*ledger.AccountRequest).Digest(id) })
		roundTrip(t, in, func() any { return new(ledger.FaucetRequest) }, func(x any) [32]byte { return x.(*ledger.FaucetRequest).Digest(id) })
	})
}

func roundTrip(t *testing.T, in []byte, mk func() any, digest func(any) [32]byte) {
	a := mk()
	if err := strictDecode(in, a); err != nil {
		return
	}
	enc, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("re-encode %T: %v", a, err)
	}
	b := mk()
	if err := strictDecode(enc, b); err != nil {
		t.Fatalf("decode of re-encoded %T %s: %v", a, enc, err)
	}
	if digest(a) != digest(b) {
		t.Fatalf("%T digest changed across round trip: %s", a, enc)
	}
	enc2, _ := json.Marshal(b)
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("%T encoding not stable:\n%s\n%s", a, enc, enc2)
	}
}

// FuzzVoucherValidate checks that Validate never panics on arbitrary vouchers and
// signatures, and that whatever it accepts obeys the channel rules.
func FuzzVoucherValidate(f *testing.F) {
	k := fuzzKey(1)
	st := channel.State{ID: channel.ChannelID{1}, Payer: k.Public(), Payee: fuzzKey(2).Public(), Deposit: 1000,
		Expiry: 2_000_000_000, Sequence: 3, Cumulative: 300}
	good := channel.SignVoucher(k, channel.Voucher{Channel: st.ID, Sequence: 4, Cumulative: 400, Piece: 2})
	f.Add(good.Channel[:], good.Sequence, good.Cumulative, good.Piece, good.Sig[:])
	f.Add(good.Channel[:], good.Sequence, good.Cumulative, good.Piece, good.Sig.Malleate().Bytes())
	f.Fuzz(func(t *testing.T, ch []byte, seq, cum uint64, piece uint32, sig []byte) {
		var v channel.SignedVoucher
		copy(v.Channel[:], ch)
		v.Sequence, v.Cumulative, v.Piece = seq, cum, piece
		copy(v.Sig[:], sig)
		s := st
		if _, err := s.Accept(v, time.Unix(1_900_000_000, 0)); err != nil {
			if s != st {
				t.Fatal("rejected voucher changed the state")
			}
			return
		}
		if v.Channel != st.ID || seq <= st.Sequence || cum < st.Cumulative || cum > st.Deposit {
			t.Fatalf("accepted a voucher that breaks the rules: %+v", v.Voucher)
		}
	})
}

// FuzzAddress round-trips base58check addresses.
func FuzzAddress(f *testing.F) {
	f.Add("TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL")
	f.Add("1111111111111111111111111")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := channel.ParseAddress(s)
		if err != nil {
			return
		}
		b, err := channel.ParseAddress(a.String())
		if err != nil || a != b {
			t.Fatalf("%q -> %x -> %q: %v", s, a, a.String(), err)
		}
	})
}

// FuzzKeyCacheVerify checks that both of KeyCache's verifiers (with the key's table, and
// without: the endomorphism path) agree with the plain one on arbitrary digests and
// signatures (valid ones are seeded; the fuzzer mutates them).
func FuzzKeyCacheVerify(f *testing.F) {
	k := fuzzKey(3)
	kc := channel.NewKeyCache(2, 2)
	kc.TableAfter = 1
	noTable := channel.NewKeyCache(2, 2)
	noTable.TableAfter = 1 << 62
	for i := range 4 {
		d := sha256.Sum256([]byte{byte(i)})
		sig := k.Sign(d)
		kc.Verify(k.Public(), d, sig) // builds the table
		f.Add(d[:], sig.Bytes())
	}
	f.Fuzz(func(t *testing.T, digest, sigBytes []byte) {
		var d [32]byte
		var sig channel.Signature
		copy(d[:], digest)
		copy(sig[:], sigBytes)
		want := k.Public().Verify(d, sig)
		got := kc.Verify(k.Public(), d, sig)
		got2 := noTable.Verify(k.Public(), d, sig)
		if (want == nil) != (got == nil) || (want == nil) != (got2 == nil) {
			t.Fatalf("KeyCache.Verify = %v (table), %v (none); PublicKey.Verify = %v", got, got2, want)
		}
	})
}
