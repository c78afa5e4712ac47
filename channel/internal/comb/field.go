// Package comb verifies secp256k1 ECDSA signatures faster than the general-purpose library,
// for a verifier that sees the same keys again and again. It holds the arithmetic the
// verification needs and nothing else: a field element of four 64-bit limbs (multiplied with
// math/bits, about half the cost of a ten-limb representation), affine and Jacobian points,
// tables of the multiples k * 2^(w*i) * P that turn a scalar multiplication into about 256/w
// additions of signed digits (Table, Verify), and, for a key without a table, a
// multiplication through the curve's endomorphism and width-5 NAFs (VerifyVartime).
//
// Everything here is variable-time: it handles only public data (keys, signatures,
// digests). Package channel builds the tables and checks results against the reference
// implementation in its tests.
package comb

import (
	"encoding/binary"
	"math/bits"
)

// fe is a field element mod p = 2^256 - 2^32 - 977, little-endian limbs, always fully
// reduced (below p), so that equality is limb equality.
type fe [4]uint64

// c is 2^256 mod p.
const c = 0x1000003D1

// p's limbs; p1 = p2 = p3.
const (
	p0 = 0xFFFFFFFEFFFFFC2F
	p1 = 0xFFFFFFFFFFFFFFFF
)

var p = fe{p0, p1, p1, p1}

// setBytes sets z to the big-endian b and reports false when b is not below p.
func (z *fe) setBytes(b *[32]byte) bool {
	for i := range 4 {
		z[i] = binary.BigEndian.Uint64(b[24-8*i:])
	}
	_, borrow := sub4(z, &p)
	return borrow == 1
}

// bytes returns z big-endian.
func (z *fe) bytes() [32]byte {
	var b [32]byte
	for i := range 4 {
		binary.BigEndian.PutUint64(b[24-8*i:], z[i])
	}
	return b
}

func (z *fe) isZero() bool { return z[0]|z[1]|z[2]|z[3] == 0 }

// sub4 returns x - y mod 2^256 and the borrow.
func sub4(x, y *fe) (fe, uint64) {
	var d fe
	var b uint64
	d[0], b = bits.Sub64(x[0], y[0], 0)
	d[1], b = bits.Sub64(x[1], y[1], b)
	d[2], b = bits.Sub64(x[2], y[2], b)
	d[3], b = bits.Sub64(x[3], y[3], b)
	return d, b
}

// add sets z = x + y. Branch-free: the carries are data, and mispredicted branches cost
// more than the arithmetic here. The limbs are scalar variables, not an fe: the compiler
// keeps scalars in registers but moves arrays through the stack.
func (z *fe) add(x, y *fe) {
	s0, carry := bits.Add64(x[0], y[0], 0)
	s1, carry := bits.Add64(x[1], y[1], carry)
	s2, carry := bits.Add64(x[2], y[2], carry)
	s3, carry := bits.Add64(x[3], y[3], carry)
	d0, borrow := bits.Sub64(s0, p0, 0)
	d1, borrow := bits.Sub64(s1, p1, borrow)
	d2, borrow := bits.Sub64(s2, p1, borrow)
	d3, borrow := bits.Sub64(s3, p1, borrow)
	mask := -(carry | (borrow ^ 1)) // all ones when s >= p
	z[0] = d0&mask | s0&^mask
	z[1] = d1&mask | s1&^mask
	z[2] = d2&mask | s2&^mask
	z[3] = d3&mask | s3&^mask
}

// sub sets z = x - y, branch-free, on scalar limbs as add.
func (z *fe) sub(x, y *fe) {
	d0, borrow := bits.Sub64(x[0], y[0], 0)
	d1, borrow := bits.Sub64(x[1], y[1], borrow)
	d2, borrow := bits.Sub64(x[2], y[2], borrow)
	d3, borrow := bits.Sub64(x[3], y[3], borrow)
	// d wrapped by 2^256 when borrow is set; adding p is then subtracting c, and d >= c.
	var b uint64
	d0, b = bits.Sub64(d0, c&-borrow, 0)
	d1, b = bits.Sub64(d1, 0, b)
	d2, b = bits.Sub64(d2, 0, b)
	d3, _ = bits.Sub64(d3, 0, b)
	z[0], z[1], z[2], z[3] = d0, d1, d2, d3
}

// madd returns a*b + c + d as (hi, lo); it cannot overflow 128 bits.
func madd(a, b, c, d uint64) (hi, lo uint64) {
	hi, lo = bits.Mul64(a, b)
	var cc uint64
	lo, cc = bits.Add64(lo, c, 0)
	hi += cc
	lo, cc = bits.Add64(lo, d, 0)
	hi += cc
	return hi, lo
}

// mul sets z = x * y: in assembly with MULX and ADX where the CPU has them (field_amd64.s),
// mulGeneric otherwise.
func (z *fe) mul(x, y *fe) {
	if useADX {
		mulADX(z, x, y)
		return
	}
	z.mulGeneric(x, y)
}

// sqr sets z = x * x, as mul.
func (z *fe) sqr(x *fe) {
	if useADX {
		sqrADX(z, x)
		return
	}
	z.sqrGeneric(x)
}

// mulGeneric sets z = x * y: schoolbook, unrolled so the limbs stay in registers.
func (z *fe) mulGeneric(x, y *fe) {
	x0, x1, x2, x3 := x[0], x[1], x[2], x[3]
	y0, y1, y2, y3 := y[0], y[1], y[2], y[3]
	var k, t0, t1, t2, t3, t4, t5, t6, t7 uint64
	k, t0 = madd(x0, y0, 0, 0)
	k, t1 = madd(x0, y1, 0, k)
	k, t2 = madd(x0, y2, 0, k)
	t4, t3 = madd(x0, y3, 0, k)

	k, t1 = madd(x1, y0, t1, 0)
	k, t2 = madd(x1, y1, t2, k)
	k, t3 = madd(x1, y2, t3, k)
	t5, t4 = madd(x1, y3, t4, k)

	k, t2 = madd(x2, y0, t2, 0)
	k, t3 = madd(x2, y1, t3, k)
	k, t4 = madd(x2, y2, t4, k)
	t6, t5 = madd(x2, y3, t5, k)

	k, t3 = madd(x3, y0, t3, 0)
	k, t4 = madd(x3, y1, t4, k)
	k, t5 = madd(x3, y2, t5, k)
	t7, t6 = madd(x3, y3, t6, k)
	z.reduce(t0, t1, t2, t3, t4, t5, t6, t7)
}

// sqrGeneric sets z = x * x: each cross product once, doubled, plus the squares.
func (z *fe) sqrGeneric(x *fe) {
	x0, x1, x2, x3 := x[0], x[1], x[2], x[3]
	var k, t0, t1, t2, t3, t4, t5, t6, t7 uint64
	k, t1 = madd(x0, x1, 0, 0)
	k, t2 = madd(x0, x2, 0, k)
	t4, t3 = madd(x0, x3, 0, k)
	k, t3 = madd(x1, x2, t3, 0)
	t5, t4 = madd(x1, x3, t4, k)
	t6, t5 = madd(x2, x3, t5, 0)
	t7 = t6 >> 63
	t6 = t6<<1 | t5>>63
	t5 = t5<<1 | t4>>63
	t4 = t4<<1 | t3>>63
	t3 = t3<<1 | t2>>63
	t2 = t2<<1 | t1>>63
	t1 <<= 1
	s0h, s0l := bits.Mul64(x0, x0)
	s1h, s1l := bits.Mul64(x1, x1)
	s2h, s2l := bits.Mul64(x2, x2)
	s3h, s3l := bits.Mul64(x3, x3)
	var cc uint64
	t0 = s0l
	t1, cc = bits.Add64(t1, s0h, 0)
	t2, cc = bits.Add64(t2, s1l, cc)
	t3, cc = bits.Add64(t3, s1h, cc)
	t4, cc = bits.Add64(t4, s2l, cc)
	t5, cc = bits.Add64(t5, s2h, cc)
	t6, cc = bits.Add64(t6, s3l, cc)
	t7, _ = bits.Add64(t7, s3h, cc)
	z.reduce(t0, t1, t2, t3, t4, t5, t6, t7)
}

// reduce sets z to t mod p, t being the 512-bit t0..t7 (little-endian):
// t = lo + hi * 2^256 = lo + hi * c (mod p).
func (z *fe) reduce(t0, t1, t2, t3, t4, t5, t6, t7 uint64) {
	var k, r0, r1, r2, r3 uint64
	k, r0 = madd(t4, c, t0, 0)
	k, r1 = madd(t5, c, t1, k)
	k, r2 = madd(t6, c, t2, k)
	k, r3 = madd(t7, c, t3, k)
	// k is below 2^34: fold it once more.
	hi, lo := bits.Mul64(k, c)
	var cc uint64
	r0, cc = bits.Add64(r0, lo, 0)
	r1, cc = bits.Add64(r1, hi, cc)
	r2, cc = bits.Add64(r2, 0, cc)
	r3, cc = bits.Add64(r3, 0, cc)
	if cc == 1 {
		// Wrapped past 2^256 (so r is now small): add c for the lost 2^256.
		r0, cc = bits.Add64(r0, c, 0)
		r1, cc = bits.Add64(r1, 0, cc)
		r2, cc = bits.Add64(r2, 0, cc)
		r3, _ = bits.Add64(r3, 0, cc)
	}
	// r < 2^256 < 2p: at most one subtraction of p.
	var b uint64
	d0, b := bits.Sub64(r0, p0, 0)
	d1, b := bits.Sub64(r1, p1, b)
	d2, b := bits.Sub64(r2, p1, b)
	d3, b := bits.Sub64(r3, p1, b)
	if b == 0 {
		r0, r1, r2, r3 = d0, d1, d2, d3
	}
	z[0], z[1], z[2], z[3] = r0, r1, r2, r3
}

// inv sets z = x^(p-2) = 1/x (0 for 0). Square and multiply: it only runs when a table is
// built.
func (z *fe) inv(x *fe) {
	e := p
	e[0] -= 2
	r := fe{1}
	for i := 255; i >= 0; i-- {
		r.sqr(&r)
		if e[i/64]>>(i%64)&1 == 1 {
			r.mul(&r, x)
		}
	}
	*z = r
}
