package channel

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/btcec/v2"
)

// KeyCache verifies signatures faster for keys that sign often: a ledger's active accounts,
// a provider's requesters. It keeps each key's parsed point and address, and once a key has
// produced TableAfter valid signatures, a comb table of its multiples
//
//	T[i][k-1] = k * 16^i * Q   (i = 0..63, k = 1..15, affine; 960 points, about 115 KiB)
//
// which turns the costly variable-base multiplication u2*Q of ECDSA verification into at
// most 64 point additions and no doublings. Results are identical to PublicKey.Verify (the
// tests compare them on valid, malleated and forged signatures). Safe for concurrent use.
type KeyCache struct {
	// TableAfter is how many valid signatures a key must have made before its table is built
	// (building costs about as much as a handful of verifications).
	TableAfter int64

	mu      sync.Mutex
	max     int
	entries map[PublicKey]*cachedKey
}

type cachedKey struct {
	pub      *btcec.PublicKey
	addr     Address
	uses     atomic.Int64
	building atomic.Bool
	table    atomic.Pointer[combTable]
}

type combTable [64][15]btcec.JacobianPoint

// NewKeyCache returns a cache holding at most maxKeys keys (about 115 KiB each once their
// table is built). When full, an arbitrary key is dropped.
func NewKeyCache(maxKeys int) *KeyCache {
	return &KeyCache{TableAfter: 32, max: max(1, maxKeys), entries: make(map[PublicKey]*cachedKey)}
}

func (c *KeyCache) get(p PublicKey) (*cachedKey, error) {
	c.mu.Lock()
	e := c.entries[p]
	c.mu.Unlock()
	if e != nil {
		return e, nil
	}
	k, err := btcec.ParsePubKey(p[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPublicKey, err)
	}
	e = &cachedKey{pub: k, addr: addressFromUncompressed(k.SerializeUncompressed())}
	c.mu.Lock()
	if len(c.entries) >= c.max {
		for old := range c.entries { // map order is random: an arbitrary victim
			delete(c.entries, old)
			break
		}
	}
	c.entries[p] = e
	c.mu.Unlock()
	return e, nil
}

// Address returns the key's address (ErrBadPublicKey for a point not on the curve).
func (c *KeyCache) Address(p PublicKey) (Address, error) {
	e, err := c.get(p)
	if err != nil {
		return Address{}, err
	}
	return e.addr, nil
}

// Verify is PublicKey.Verify, faster for keys seen often.
func (c *KeyCache) Verify(p PublicKey, digest [32]byte, sig Signature) error {
	e, err := c.get(p)
	if err != nil {
		return err
	}
	var r, s btcec.ModNScalar
	if overflow := r.SetByteSlice(sig[:32]); overflow || r.IsZero() {
		return fmt.Errorf("%w: r out of range", ErrBadSignature)
	}
	if overflow := s.SetByteSlice(sig[32:]); overflow || s.IsZero() {
		return fmt.Errorf("%w: s out of range", ErrBadSignature)
	}
	if s.IsOverHalfOrder() {
		return ErrHighS
	}
	t := e.table.Load()
	if t == nil {
		if !verifyPoint(e.pub, digest, &r, &s) {
			return ErrBadSignature
		}
		if e.uses.Add(1) >= c.TableAfter && e.building.CompareAndSwap(false, true) {
			e.table.Store(buildComb(e.pub))
		}
		return nil
	}
	if !verifyComb(t, digest, &r, &s) {
		return ErrBadSignature
	}
	return nil
}

func verifyPoint(pub *btcec.PublicKey, digest [32]byte, r, s *btcec.ModNScalar) bool {
	var q btcec.JacobianPoint
	pub.AsJacobian(&q)
	u1, u2 := scalars(digest, r, s)
	var p1, p2, sum btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(u1, &p1)
	btcec.ScalarMultNonConst(u2, &q, &p2)
	btcec.AddNonConst(&p1, &p2, &sum)
	return xEqualsR(&sum, r)
}

// scalars returns u1 = e/s and u2 = r/s (mod n), e being the digest reduced mod n.
func scalars(digest [32]byte, r, s *btcec.ModNScalar) (u1, u2 *btcec.ModNScalar) {
	var e btcec.ModNScalar
	e.SetBytes(&digest)
	w := new(btcec.ModNScalar).InverseValNonConst(s)
	return new(btcec.ModNScalar).Mul2(&e, w), new(btcec.ModNScalar).Mul2(r, w)
}

// xEqualsR reports whether point p is not infinity and its affine x, reduced mod n, is r.
func xEqualsR(p *btcec.JacobianPoint, r *btcec.ModNScalar) bool {
	if (p.X.IsZero() && p.Y.IsZero()) || p.Z.IsZero() {
		return false
	}
	p.ToAffine()
	var x btcec.ModNScalar
	x.SetBytes(p.X.Bytes())
	return x.Equals(r)
}

func verifyComb(t *combTable, digest [32]byte, r, s *btcec.ModNScalar) bool {
	u1, u2 := scalars(digest, r, s)
	var acc btcec.JacobianPoint // zero value: the point at infinity for AddNonConst
	b := u2.Bytes()
	for i := range 64 {
		nib := b[31-i/2] >> (4 * (i % 2)) & 0xf
		if nib != 0 {
			var next btcec.JacobianPoint // AddNonConst's result must not alias an input
			btcec.AddNonConst(&acc, &t[i][nib-1], &next)
			acc = next
		}
	}
	var p1, sum btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(u1, &p1)
	btcec.AddNonConst(&p1, &acc, &sum)
	return xEqualsR(&sum, r)
}

// buildComb computes the table in Jacobian form, then converts all 960 points to affine
// with one field inversion (Montgomery's trick), so that every later addition takes the
// cheaper mixed-coordinates path.
func buildComb(pub *btcec.PublicKey) *combTable {
	t := new(combTable)
	var base btcec.JacobianPoint
	pub.AsJacobian(&base)
	for i := range 64 {
		t[i][0] = base
		for k := 1; k < 15; k++ {
			btcec.AddNonConst(&t[i][k-1], &base, &t[i][k])
		}
		var next btcec.JacobianPoint
		btcec.AddNonConst(&t[i][14], &base, &next) // 16 * base
		base = next
	}
	// prefix[j] = z_0 * ... * z_j over the flattened table.
	const n = 64 * 15
	pt := func(j int) *btcec.JacobianPoint { return &t[j/15][j%15] }
	prefix := make([]btcec.FieldVal, n)
	prefix[0].Set(&pt(0).Z).Normalize()
	for j := 1; j < n; j++ {
		prefix[j].Mul2(&prefix[j-1], &pt(j).Z).Normalize()
	}
	var inv btcec.FieldVal
	inv.Set(&prefix[n-1]).Inverse().Normalize()
	for j := n - 1; j >= 0; j-- {
		var zinv btcec.FieldVal
		if j > 0 {
			zinv.Mul2(&inv, &prefix[j-1]).Normalize()
			inv.Mul(&pt(j).Z).Normalize()
		} else {
			zinv.Set(&inv)
		}
		p := pt(j)
		var z2, z3 btcec.FieldVal
		z2.SquareVal(&zinv).Normalize()
		z3.Mul2(&z2, &zinv).Normalize()
		p.X.Mul(&z2).Normalize()
		p.Y.Mul(&z3).Normalize()
		p.Z.SetInt(1)
	}
	return t
}
