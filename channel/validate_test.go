package channel

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var testNow = time.Unix(1_800_000_000, 0)

func testChannel(t testing.TB) (payer, payee *PrivateKey, st State) {
	payer, payee = testKey(t, 10), testKey(t, 11)
	o := Open{Payer: payer.Public(), Payee: payee.Public(), Amount: 1000, Nonce: 7,
		Expiry: uint64(testNow.Unix()) + 3600}
	o.Ledger[0] = 1
	return payer, payee, State{ID: o.ID(), Payer: o.Payer, Payee: o.Payee, Deposit: o.Amount, Expiry: o.Expiry}
}

func TestValidateRejects(t *testing.T) {
	payer, payee, st := testChannel(t)
	stranger := testKey(t, 12)
	accepted := st
	accepted.Sequence, accepted.Cumulative = 5, 300
	closed := st
	closed.Closed = true
	big := st
	big.Deposit = math.MaxUint64 - 1
	otherID := st.ID
	otherID[31] ^= 1
	ok := SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 6, Cumulative: 400, Piece: 3})

	tests := []struct {
		name string
		st   State
		v    SignedVoucher
		now  time.Time
		want error
	}{
		{"valid first", st, SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 1, Cumulative: 1}), testNow, nil},
		{"valid next", accepted, ok, testNow, nil},
		{"full deposit", accepted, SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 9, Cumulative: 1000}), testNow, nil},
		{"same amount, new piece", accepted, SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 6, Cumulative: 300}), testNow, nil},
		{"wrong channel", st, SignVoucher(payer, Voucher{Channel: otherID, Sequence: 1, Cumulative: 1}), testNow, ErrWrongChannel},
		{"sequence zero", st, SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 0, Cumulative: 0}), testNow, ErrStaleSequence},
		{"replay same sequence", accepted, SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 5, Cumulative: 300}), testNow, ErrStaleSequence},
		{"replay older sequence", accepted, SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 4, Cumulative: 200}), testNow, ErrStaleSequence},
		{"cumulative decrease", accepted, SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 6, Cumulative: 299}), testNow, ErrAmountDecreased},
		{"above deposit", accepted, SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 6, Cumulative: 1001}), testNow, ErrOverDeposit},
		{"max uint64", big, SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 1, Cumulative: math.MaxUint64}), testNow, ErrOverDeposit},
		{"high-S", accepted, SignedVoucher{ok.Voucher, ok.Sig.Malleate()}, testNow, ErrHighS},
		{"malleated r", accepted, func() SignedVoucher { v := ok; v.Sig[5] ^= 1; return v }(), testNow, ErrBadSignature},
		{"signed by payee", accepted, SignVoucher(payee, ok.Voucher), testNow, ErrBadSignature},
		{"signed by stranger", accepted, SignVoucher(stranger, ok.Voucher), testNow, ErrBadSignature},
		{"signature of other voucher", accepted, SignedVoucher{Voucher{Channel: st.ID, Sequence: 6, Cumulative: 999}, ok.Sig}, testNow, ErrBadSignature},
		{"expired", accepted, ok, time.Unix(int64(st.Expiry), 0), ErrExpired},
		{"closed", closed, ok, testNow, ErrClosed},
	}
	kc := NewKeyCache(4, 4)
	kc.TableAfter = 1
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.st, tt.v, tt.now)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
			for range 2 { // before and after the key's table exists
				err := ValidateCached(kc, tt.st, tt.v, tt.now)
				if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("ValidateCached = %v, want %v", err, tt.want)
				}
			}
		})
	}
}

func TestValidateCloseRejects(t *testing.T) {
	payer, payee, st := testChannel(t)
	v := SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 3, Cumulative: 250})
	good := SignClose(payee, v)
	if err := ValidateClose(st, good, testNow); err != nil {
		t.Fatalf("valid close: %v", err)
	}
	byPayer := SignClose(payer, v)
	if err := ValidateClose(st, byPayer, testNow); !errors.Is(err, ErrNotPayee) {
		t.Errorf("close by payer: %v, want ErrNotPayee", err)
	}
	high := good
	high.PayeeSig = good.PayeeSig.Malleate()
	if err := ValidateClose(st, high, testNow); !errors.Is(err, ErrHighS) {
		t.Errorf("high-S close: %v, want ErrHighS", err)
	}
	other := SignClose(payee, SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 3, Cumulative: 1}))
	swapped := Close{Voucher: v, PayeeSig: other.PayeeSig}
	if err := ValidateClose(st, swapped, testNow); !errors.Is(err, ErrBadSignature) {
		t.Errorf("counter-signature of another voucher: %v", err)
	}
	closed := st
	closed.Closed = true
	if err := ValidateClose(closed, good, testNow); !errors.Is(err, ErrClosed) {
		t.Errorf("close twice: %v, want ErrClosed", err)
	}
	if err := ValidateClose(st, good, time.Unix(int64(st.Expiry)+1, 0)); !errors.Is(err, ErrExpired) {
		t.Errorf("close after expiry: %v, want ErrExpired", err)
	}
}

// TestAcceptProperty feeds random voucher streams to Accept and checks the invariants
// against a model: accepted sequences strictly increase, accepted amounts never decrease and
// never exceed the deposit, the sum of "added" equals the last cumulative amount, and every
// rejected voucher leaves the state untouched.
func TestAcceptProperty(t *testing.T) {
	payer, _, st0 := testChannel(t)
	stranger := testKey(t, 13)
	kc := NewKeyCache(4, 4)
	kc.TableAfter = 2
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 99))
		st, stc := st0, st0 // stc accepts through the key cache and must agree at every step
		var total uint64
		for range 60 {
			v := Voucher{Channel: st.ID, Sequence: st.Sequence + uint64(r.IntN(3)) - 1, Piece: r.Uint32()}
			if r.IntN(10) == 0 {
				v.Sequence = r.Uint64()
			}
			switch r.IntN(4) {
			case 0:
				v.Cumulative = st.Cumulative - min(st.Cumulative, uint64(r.IntN(10)))
			case 1:
				v.Cumulative = r.Uint64()
			default:
				v.Cumulative = st.Cumulative + uint64(r.IntN(200))
			}
			signer := payer
			if r.IntN(10) == 0 {
				signer = stranger
			}
			sv := SignVoucher(signer, v)
			if r.IntN(10) == 0 {
				sv.Sig = sv.Sig.Malleate()
			}
			before := st
			added, err := st.Accept(sv, testNow)
			addedc, errc := stc.AcceptCached(kc, sv, testNow)
			if (err == nil) != (errc == nil) || added != addedc || st != stc {
				t.Fatalf("seed %d: Accept = %d, %v; AcceptCached = %d, %v", seed, added, err, addedc, errc)
			}
			wantOK := signer == payer && sv.Sig == signer.Sign(v.Digest()) && v.Sequence > before.Sequence &&
				v.Cumulative >= before.Cumulative && v.Cumulative <= before.Deposit
			if (err == nil) != wantOK {
				t.Fatalf("seed %d: Accept(%+v) = %v, model says ok=%v", seed, v, err, wantOK)
			}
			if err != nil {
				if st != before {
					t.Fatalf("seed %d: rejected voucher changed state", seed)
				}
				continue
			}
			total += added
			if st.Sequence <= before.Sequence || st.Cumulative < before.Cumulative || st.Cumulative > st.Deposit {
				t.Fatalf("seed %d: invariant broken: %+v -> %+v", seed, before, st)
			}
		}
		if total != st.Cumulative {
			t.Fatalf("seed %d: sum of added %d != cumulative %d", seed, total, st.Cumulative)
		}
	}
}

func TestDomainSeparation(t *testing.T) {
	// A signature on one message type must not verify as any other.
	payer, payee, st := testChannel(t)
	v := SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 1, Cumulative: 1})
	c := SignClose(payee, v)
	o := Open{Payer: payer.Public(), Payee: payee.Public(), Amount: 1000, Nonce: 7, Expiry: st.Expiry}
	o.Ledger[0] = 1
	osig := o.Sign(payer)
	if err := o.Verify(osig); err != nil {
		t.Fatal(err)
	}
	if payer.Public().Verify(v.Digest(), osig) == nil || payee.Public().Verify(v.Digest(), c.PayeeSig) == nil {
		t.Fatal("signature crossed message types")
	}
	o2 := o
	o2.Ledger[0] = 2
	if o2.ID() == o.ID() || o2.Verify(osig) == nil {
		t.Fatal("open message not bound to its ledger")
	}
	for _, n := range []int{len(TagOpen), len(TagVoucher), len(TagClose)} {
		if n != 16 {
			t.Fatalf("tag length %d", n)
		}
	}
}

func BenchmarkValidateCached(b *testing.B) {
	payer, _, st := testChannel(b)
	v := SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 1, Cumulative: 1})
	kc := NewKeyCache(4, 4)
	for range kc.TableAfter + 1 {
		ValidateCached(kc, st, v, testNow)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateCached(kc, st, v, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	payer, _, st := testChannel(b)
	v := SignVoucher(payer, Voucher{Channel: st.ID, Sequence: 1, Cumulative: 1})
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(st, v, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
