package comb

import (
	"encoding/binary"
	"encoding/hex"
)

// Table holds the multiples k * 2^(w*i) * P of a point P for k = 1..2^(w-1), affine. With
// it, s * P is the sum of one entry, or its negation, per nonzero digit of s written in
// signed base 2^w (digits -2^(w-1)..2^(w-1)): about 256/w additions and no doublings.
type Table struct {
	w    uint
	rows [][]Affine
}

// Window widths: a key's table (5 bits: 53 rows of 16 points, 53 KiB) is built for every
// key that signs often; the generator's (8 bits: 33 rows of 128 points, 264 KiB) once.
const (
	KeyWindow       = 5
	GeneratorWindow = 8
)

// NewTable computes the table of P with window width w (2..8): one addition per entry and
// one shared field inversion for them all.
func NewTable(pt Affine, w uint) *Table {
	if w < 2 || w > 8 {
		panic("comb: window width out of range")
	}
	nrows, per := (256+int(w)-1)/int(w)+1, 1<<(w-1)
	jac := make([]jacobian, nrows*per)
	base := jacobian{pt.x, pt.y, fe{1}} // 2^(w*i) * P; never infinity: the order is above 2^264
	for i := range nrows {
		row := jac[i*per : (i+1)*per]
		row[0] = base
		for k := 1; k < per; k++ {
			row[k] = row[k-1]
			row[k].add(&base)
		}
		// next base = 2^w * base = 2 * (2^(w-1) * base); it stays Jacobian: one inversion
		// per row would cost more than all of the row's additions.
		base = row[per-1]
		base.double()
	}
	// All to affine with one inversion (Montgomery's trick): prefix[j] = z_0 * ... * z_j.
	n := len(jac)
	prefix := make([]fe, n)
	prefix[0] = jac[0].z
	for j := 1; j < n; j++ {
		prefix[j].mul(&prefix[j-1], &jac[j].z)
	}
	var inv fe
	inv.inv(&prefix[n-1])
	pts := make([]Affine, n)
	for j := n - 1; j >= 0; j-- {
		zi := inv
		if j > 0 {
			zi.mul(&inv, &prefix[j-1])
			inv.mul(&inv, &jac[j].z)
		}
		var zi2, zi3 fe
		zi2.sqr(&zi)
		zi3.mul(&zi2, &zi)
		pts[j].x.mul(&jac[j].x, &zi2)
		pts[j].y.mul(&jac[j].y, &zi3)
	}
	t := &Table{w: w, rows: make([][]Affine, nrows)}
	for i := range t.rows {
		t.rows[i] = pts[i*per : (i+1)*per : (i+1)*per]
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
	var limbs [5]uint64 // little-endian, one spare so windows may run past bit 255
	for i := range 4 {
		limbs[i] = binary.BigEndian.Uint64(s[24-8*i:])
	}
	w := t.w
	half, full := uint64(1)<<(w-1), uint64(1)<<w
	var carry uint64
	for i := range t.rows {
		pos := uint(i) * w
		v := limbs[pos/64] >> (pos % 64)
		if pos%64+w > 64 {
			v |= limbs[pos/64+1] << (64 - pos%64)
		}
		d := v&(full-1) + carry
		carry = 0
		switch {
		case d == 0:
		case d == full: // digit 0, carry one
			carry = 1
		case d <= half:
			acc.addAffine(&t.rows[i][d-1])
		default: // d - 2^w, negative: add the negated entry and carry one
			neg := t.rows[i][full-d-1]
			neg.y.sub(&fe{}, &neg.y)
			acc.addAffine(&neg)
			carry = 1
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
	return xMatches(&acc, r)
}

// xMatches reports whether acc is not infinity and its affine x is r modulo n.
func xMatches(acc *jacobian, r *[32]byte) bool {
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
