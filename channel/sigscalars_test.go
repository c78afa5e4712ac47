package channel

import (
	"crypto/sha256"
	"errors"
	"testing"
)

// TestScalarChecksSharedByBothPaths: PublicKey.Verify and KeyCache.Verify (internal/comb)
// refuse the same malformed signatures with the same errors, and accept the good one.
func TestScalarChecksSharedByBothPaths(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("scalars"))
	good := k.Sign(d)
	// n, the group order, big-endian: out of range for r and s.
	n := [32]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
		0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41}
	with := func(f func(*Signature)) Signature { s := good; f(&s); return s }
	cache := NewKeyCache(4, 4)
	for _, tc := range []struct {
		name string
		sig  Signature
		want error
	}{
		{"good", good, nil},
		{"r zero", with(func(s *Signature) { clear(s[:32]) }), ErrBadSignature},
		{"r = n", with(func(s *Signature) { copy(s[:32], n[:]) }), ErrBadSignature},
		{"s zero", with(func(s *Signature) { clear(s[32:]) }), ErrBadSignature},
		{"s = n", with(func(s *Signature) { copy(s[32:], n[:]) }), ErrBadSignature},
		{"high s", good.Malleate(), ErrHighS},
	} {
		for _, p := range []struct {
			name   string
			verify func() error
		}{
			{"PublicKey.Verify", func() error { return k.Public().Verify(d, tc.sig) }},
			{"KeyCache.Verify", func() error { return cache.Verify(k.Public(), d, tc.sig) }},
		} {
			err := p.verify()
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("%s: %s = %v, want %v", tc.name, p.name, err, tc.want)
			}
		}
	}
}
