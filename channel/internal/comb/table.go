package comb

import "encoding/hex"

// Table holds the multiples k * 16^i * P (i = 0..63, k = 1..15) of a point P, affine: 960
// points, 60 KiB. With it, s * P is the sum of one entry per nonzero hex digit of s.
type Table [64][15]Affine

// NewTable computes the table of P: 960 additions and one shared inversion, about as much
// as a dozen verifications.
func NewTable(pt Affine) *Table {
	var jac [64][15]jacobian
	base := pt
	for i := range 64 {
		jac[i][0] = jacobian{base.x, base.y, fe{1}}
		for k := 1; k < 15; k++ {
			jac[i][k] = jac[i][k-1]
			jac[i][k].addAffine(&base)
		}
		next := jac[i][14]
		next.addAffine(&base) // 16 * base
		if i < 63 {
			// 16^i * P is never infinity: the group has prime order above 16^64.
			base, _ = next.affine()
		}
	}
	// All 960 to affine with one inversion (Montgomery's trick): prefix[j] = z_0 * ... * z_j.
	const n = 64 * 15
	at := func(j int) *jacobian { return &jac[j/15][j%15] }
	prefix := make([]fe, n)
	prefix[0] = at(0).z
	for j := 1; j < n; j++ {
		prefix[j].mul(&prefix[j-1], &at(j).z)
	}
	var inv fe
	inv.inv(&prefix[n-1])
	t := new(Table)
	for j := n - 1; j >= 0; j-- {
		zi := inv
		if j > 0 {
			zi.mul(&inv, &prefix[j-1])
			inv.mul(&inv, &at(j).z)
		}
		var zi2, zi3 fe
		zi2.sqr(&zi)
		zi3.mul(&zi2, &zi)
		a := &t[j/15][j%15]
		a.x.mul(&at(j).x, &zi2)
		a.y.mul(&at(j).y, &zi3)
	}
	return t
}

// Generator returns the curve's base point G.
func Generator() Affine {
	x := mustHex32("79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798")
	y := mustHex32("483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8")
	g, ok := NewAffine(&x, &y)
	if !ok {
		panic("comb: generator not on the curve")
	}
	return g
}

func mustHex32(s string) [32]byte {
	var b [32]byte
	if n, err := hex.Decode(b[:], []byte(s)); err != nil || n != 32 {
		panic("comb: bad constant " + s)
	}
	return b
}

// addMultiple adds s * P to acc, t being P's table and s big-endian.
func (t *Table) addMultiple(acc *jacobian, s *[32]byte) {
	for i := range 64 {
		if nib := s[31-i/2] >> (4 * (i % 2)) & 0xf; nib != 0 {
			acc.addAffine(&t[i][nib-1])
		}
	}
}

// orderN is the group order n; pMinusN is p - n.
var (
	orderN  = feFromHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141")
	pMinusN = feFromHex("000000000000000000000000000000014551231950B75FC4402DA1722FC9BAEE")
)

func feFromHex(s string) fe {
	b := mustHex32(s)
	var f fe
	if !f.setBytes(&b) {
		panic("comb: constant not below p")
	}
	return f
}

// Verify reports whether u1*G + u2*Q, with g the table of G and q the table of Q, is a
// point whose x coordinate is r modulo the group order: the last step of ECDSA
// verification. u1, u2 and r are big-endian scalars below n, r nonzero.
func Verify(g, q *Table, u1, u2, r *[32]byte) bool {
	var acc jacobian
	g.addMultiple(&acc, u1)
	q.addMultiple(&acc, u2)
	if acc.isInfinity() {
		return false
	}
	// x = X/Z^2, so compare r*Z^2 with X instead of inverting Z.
	var rf, z2, t fe
	if !rf.setBytes(r) {
		return false
	}
	z2.sqr(&acc.z)
	if t.mul(&rf, &z2); t == acc.x {
		return true
	}
	// x is below p and r = x mod n, so x may also be r + n, when r + n < p.
	if _, borrow := sub4(&rf, &pMinusN); borrow == 0 {
		return false
	}
	rf.add(&rf, &orderN)
	t.mul(&rf, &z2)
	return t == acc.x
}
