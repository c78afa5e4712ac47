package channel

import (
	"crypto/sha256"
	"errors"
	"testing"
)

func testKey(t testing.TB, seed byte) *PrivateKey {
	t.Helper()
	b := sha256.Sum256([]byte{seed})
	k, err := NewPrivateKey(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerify(t *testing.T) {
	k, other := testKey(t, 1), testKey(t, 2)
	for i := range 200 {
		d := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		sig := k.Sign(d)
		if err := k.Public().Verify(d, sig); err != nil {
			t.Fatalf("digest %d: %v", i, err)
		}
		// The malleated twin is a valid plain-ECDSA signature; we must refuse it.
		if err := k.Public().Verify(d, sig.Malleate()); !errors.Is(err, ErrHighS) {
			t.Fatalf("digest %d: malleated signature: %v, want ErrHighS", i, err)
		}
		if err := other.Public().Verify(d, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("digest %d: wrong key: %v, want ErrBadSignature", i, err)
		}
		d[0] ^= 1
		if err := k.Public().Verify(d, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("digest %d: other digest: %v", i, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	k := testKey(t, 1)
	d := sha256.Sum256(nil)
	var zero Signature
	ones := Signature{}
	for i := range ones {
		ones[i] = 0xff
	}
	good := k.Sign(d)
	rZero := good
	clear(rZero[:32])
	for name, sig := range map[string]Signature{"zero": zero, "ones": ones, "r zero": rZero} {
		if err := k.Public().Verify(d, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
	var bad PublicKey
	bad[0] = 2
	if err := bad.Verify(d, good); err == nil {
		t.Error("invalid public key verified")
	}
}

func TestKeyParsing(t *testing.T) {
	if _, err := NewPrivateKey(make([]byte, 32)); err == nil {
		t.Error("zero private key accepted")
	}
	if _, err := NewPrivateKey(make([]byte, 31)); err == nil {
		t.Error("short private key accepted")
	}
	k := testKey(t, 3)
	k2, err := NewPrivateKey(k.Bytes())
	if err != nil || k2.Public() != k.Public() {
		t.Fatalf("round trip: %v", err)
	}
	p, err := ParsePublicKeyHex(k.Public().String())
	if err != nil || p != k.Public() {
		t.Fatalf("public key hex round trip: %v", err)
	}
	for _, s := range []string{"", "02", k.Public().String()[:64] + "zz", "04" + k.Public().String()[2:]} {
		if _, err := ParsePublicKeyHex(s); !errors.Is(err, ErrBadPublicKey) {
			t.Errorf("ParsePublicKeyHex(%q): %v", s, err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := testKey(b, 1)
	v := SignVoucher(k, Voucher{Sequence: 1, Cumulative: 5})
	st := State{Payer: k.Public(), Deposit: 10, Expiry: 1 << 40}
	b.ReportAllocs()
	for b.Loop() {
		if err := st.Payer.Verify(v.Digest(), v.Sig); err != nil {
			b.Fatal(err)
		}
	}
	_ = st
}

func BenchmarkSign(b *testing.B) {
	k := testKey(b, 1)
	d := sha256.Sum256(nil)
	b.ReportAllocs()
	for b.Loop() {
		k.Sign(d)
	}
}
