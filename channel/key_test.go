package channel

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
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

// A compressed key read as text is checked for form only; one whose x is not on the curve
// decodes, but every use refuses it.
func TestPublicKeyTextOffCurve(t *testing.T) {
	k := testKey(t, 4)
	var p PublicKey
	if err := p.UnmarshalText([]byte(k.Public().String())); err != nil || p != k.Public() {
		t.Fatalf("valid key: %v", err)
	}
	uncompressed := hex.EncodeToString(mustParsePub(t, k.Public()).SerializeUncompressed())
	if err := p.UnmarshalText([]byte(uncompressed)); err != nil || p != k.Public() {
		t.Fatalf("uncompressed key: %v", err)
	}
	for _, s := range []string{"04" + k.Public().String()[2:], "02" + strings.Repeat("ff", 32), "0" + k.Public().String()[1:65] + "z"} {
		if err := p.UnmarshalText([]byte(s)); !errors.Is(err, ErrBadPublicKey) {
			t.Errorf("UnmarshalText(%q): %v, want ErrBadPublicKey", s, err)
		}
	}
	// x = 5: 5^3 + 7 = 132 has no square root mod p, so no point has this x.
	off := "02" + strings.Repeat("00", 31) + "05"
	if err := p.UnmarshalText([]byte(off)); err != nil {
		t.Fatalf("form-valid key refused: %v", err)
	}
	sig := k.Sign([32]byte{1})
	if err := p.Verify([32]byte{1}, sig); !errors.Is(err, ErrBadPublicKey) {
		t.Errorf("Verify with an off-curve key: %v", err)
	}
	if err := NewKeyCache(4, 4).Verify(p, [32]byte{1}, sig); !errors.Is(err, ErrBadPublicKey) {
		t.Errorf("KeyCache.Verify with an off-curve key: %v", err)
	}
	if a := p.Address(); !a.IsZero() {
		t.Errorf("off-curve key has address %v", a)
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

func mustParsePub(t *testing.T, p PublicKey) *btcec.PublicKey {
	t.Helper()
	k, err := btcec.ParsePubKey(p[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}
