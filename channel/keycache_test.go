package channel

import (
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/speedbt/btt/channel/internal/comb"
)

// TestKeyCacheMatchesVerify compares KeyCache.Verify, before and after the comb table is
// built, with PublicKey.Verify on valid, malleated, forged and cross-key signatures.
func TestKeyCacheMatchesVerify(t *testing.T) {
	c := NewKeyCache(8, 8)
	c.TableAfter = 3
	r := rand.New(rand.NewPCG(1, 2))
	keys := []*PrivateKey{testKey(t, 1), testKey(t, 2), testKey(t, 3)}
	built := 0
	for i := range 600 {
		k := keys[r.IntN(len(keys))]
		d := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		sig := k.Sign(d)
		pub := k.Public()
		switch r.IntN(6) {
		case 0:
			sig = sig.Malleate()
		case 1:
			sig[r.IntN(64)] ^= byte(1 + r.IntN(255))
		case 2:
			d[r.IntN(32)] ^= 1
		case 3:
			pub = keys[r.IntN(len(keys))].Public()
		}
		want := pub.Verify(d, sig)
		var got error
		if i%2 == 0 {
			got = c.Verify(pub, d, sig)
		} else {
			var a Address
			a, got = c.VerifyAddress(pub, d, sig)
			if got == nil && a != pub.Address() {
				t.Fatalf("step %d: VerifyAddress gave %s, the key's address is %s", i, a, pub.Address())
			}
		}
		if (want == nil) != (got == nil) || want != nil && !errors.Is(got, errors.Unwrap(want)) && !errors.Is(got, want) {
			t.Fatalf("step %d: KeyCache.Verify = %v, PublicKey.Verify = %v", i, got, want)
		}
		if e := c.entries[pub]; e != nil && e.table.Load() != nil {
			built++
		}
	}
	if built == 0 {
		t.Fatal("no comb table was ever built")
	}
	for _, k := range keys {
		if a, err := c.Address(k.Public()); err != nil || a != k.Address() {
			t.Fatalf("Address: %v", err)
		}
	}
	var bad PublicKey
	bad[0] = 2
	if err := c.Verify(bad, [32]byte{}, Signature{1}); !errors.Is(err, ErrBadPublicKey) {
		t.Fatalf("bad key: %v", err)
	}
}

// TestCombEdgeScalars checks the comb against the generic multiplication for scalars with
// extreme nibble patterns, through full signatures whose u2 we cannot pick directly: many
// digests cover zero and 0xf nibbles in every position.
func TestCombEdgeScalars(t *testing.T) {
	k := testKey(t, 9)
	c := NewKeyCache(1, 1)
	c.TableAfter = 1
	d0 := sha256.Sum256([]byte("first"))
	if err := c.Verify(k.Public(), d0, k.Sign(d0)); err != nil {
		t.Fatal(err)
	}
	e, _, err := c.get(k.Public())
	if err != nil || e.table.Load() == nil {
		t.Fatalf("no table after the first signature: %v", err)
	}
	for i := range 300 {
		d := sha256.Sum256([]byte{byte(i), 'e'})
		sig := k.Sign(d)
		if c.Verify(k.Public(), d, sig) != nil || k.Public().Verify(d, sig) != nil {
			t.Fatalf("digest %d: valid signature refused", i)
		}
		d[0] ^= 0x80
		if c.Verify(k.Public(), d, sig) == nil {
			t.Fatalf("digest %d: forged digest accepted", i)
		}
	}
}

// Tables are capped: past maxTables, building one drops another's, and the count stays
// exact when keys come and go.
func TestKeyCacheTableCap(t *testing.T) {
	c := NewKeyCache(4, 2)
	c.TableAfter, c.StealAfter = 1, 1
	keys := make([]*PrivateKey, 6)
	for i := range keys {
		keys[i] = testKey(t, byte(20+i))
	}
	for round := range 3 {
		for _, k := range keys {
			d := sha256.Sum256([]byte{byte(round), k.Public()[5]})
			if err := c.Verify(k.Public(), d, k.Sign(d)); err != nil {
				t.Fatal(err)
			}
		}
		c.mu.Lock()
		n := 0
		for _, e := range c.entries {
			if e.table.Load() != nil {
				n++
			}
		}
		if n != c.tables || n > 2 || len(c.entries) > 4 {
			t.Fatalf("round %d: %d tables (count %d) in %d entries", round, n, c.tables, len(c.entries))
		}
		c.mu.Unlock()
	}
}

// A key gets a table after TableAfter signatures while one is free, and takes another key's
// only after StealAfter.
func TestKeyCacheStealAfter(t *testing.T) {
	c := NewKeyCache(4, 1)
	c.TableAfter, c.StealAfter = 2, 5
	a, b := testKey(t, 30), testKey(t, 31)
	sign := func(k *PrivateKey, n int) {
		for i := range n {
			d := sha256.Sum256([]byte{byte(i), k.Public()[7]})
			if err := c.Verify(k.Public(), d, k.Sign(d)); err != nil {
				t.Fatal(err)
			}
		}
	}
	hasTable := func(k *PrivateKey) bool {
		e, _, err := c.get(k.Public())
		return err == nil && e.table.Load() != nil
	}
	sign(a, 2)
	if !hasTable(a) {
		t.Fatal("no table after TableAfter signatures with a table free")
	}
	sign(b, 4)
	if hasTable(b) || !hasTable(a) {
		t.Fatal("a table was taken before StealAfter signatures")
	}
	sign(b, 1)
	if !hasTable(b) || hasTable(a) {
		t.Fatalf("after StealAfter signatures: b has a table %v, a %v; want b only", hasTable(b), hasTable(a))
	}
}

func BenchmarkKeyCacheVerify(b *testing.B) {
	k := testKey(b, 1)
	c := NewKeyCache(4, 4)
	d := sha256.Sum256(nil)
	sig := k.Sign(d)
	for range c.TableAfter + 1 {
		c.Verify(k.Public(), d, sig)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Verify(k.Public(), d, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildComb(b *testing.B) {
	e, _, _ := NewKeyCache(1, 1).get(testKey(b, 1).Public())
	for b.Loop() {
		comb.NewTable(e.q, comb.KeyWindow)
	}
}

// TestKeyCacheAdmitsOnlySigners (issue 12): keys enter the cache only with a valid
// signature, so a flood of valid points with forged signatures (or address look-ups)
// cannot evict the keys that really sign.
func TestKeyCacheAdmitsOnlySigners(t *testing.T) {
	c := NewKeyCache(2, 2)
	real := []*PrivateKey{testKey(t, 40), testKey(t, 41)}
	d := sha256.Sum256([]byte("voucher"))
	for _, k := range real {
		if err := c.Verify(k.Public(), d, k.Sign(d)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		k := testKey(t, byte(100+i))
		sig := k.Sign(d)
		sig[40] ^= 1
		if err := c.Verify(k.Public(), d, sig); err == nil {
			t.Fatal("forged signature verified")
		}
		if _, err := c.Address(k.Public()); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) != 2 {
		t.Fatalf("%d keys cached, want the 2 that signed", len(c.entries))
	}
	for _, k := range real {
		if c.entries[k.Public()] == nil {
			t.Errorf("a signing key was evicted by keys that never signed")
		}
	}
}
