package comb

import (
	"encoding/binary"
	"math/big"
	"math/bits"
)

// wnafWidth is the window of the variable-base multiplication: 8 precomputed odd multiples
// and one addition per 6 bits on average.
const wnafWidth = 5

// wnaf writes s (big-endian) in width-5 non-adjacent form, least significant digit first:
// digits are 0 or odd in -15..15, and any nonzero digit is followed by at least four zeros.
func wnaf(s *[32]byte) (digits [257]int8, n int) {
	var k [5]uint64 // little-endian with a spare limb for the carry of a negative digit
	for i := range 4 {
		k[i] = binary.BigEndian.Uint64(s[24-8*i:])
	}
	for k != [5]uint64{} {
		var d int64
		if k[0]&1 == 1 {
			d = int64(k[0] & (1<<wnafWidth - 1))
			if d >= 1<<(wnafWidth-1) {
				d -= 1 << wnafWidth
			}
			// k -= d leaves k's low bits zero. d > 0 is k's low bits, so nothing borrows;
			// d < 0 adds, and the carry may run up into the spare limb.
			if d > 0 {
				k[0] -= uint64(d)
			} else {
				var cy uint64
				k[0], cy = bits.Add64(k[0], uint64(-d), 0)
				for i := 1; i < len(k); i++ {
					k[i], cy = bits.Add64(k[i], 0, cy)
				}
			}
		}
		digits[n] = int8(d)
		n++
		for i := range 4 {
			k[i] = k[i]>>1 | k[i+1]<<63
		}
		k[4] >>= 1
	}
	return digits, n
}

// GLV: secp256k1 has an efficient endomorphism, lambda * (x, y) = (beta * x, y), so that
// s * P = s1 * P + s2 * (lambda P) with s1 and s2 of about 128 bits each: half the
// doublings. The decomposition is the standard one (Gallant, Lambert, Vanstone; the lattice
// basis as in libsecp256k1's and dcrd's documentation), done with math/big: it runs once
// per verification.
var (
	glvN    = func() *big.Int { b := orderN.bytes(); return new(big.Int).SetBytes(b[:]) }()
	glvA1   = bigHex("3086D221A7D46BCDE86C90E49284EB15")
	glvB1   = new(big.Int).Neg(bigHex("E4437ED6010E88286F547FA90ABFE4C3"))
	glvA2   = bigHex("114CA50F7A8E2F3F657C1108D9D44CFD8")
	glvB2   = glvA1 // the basis has b2 = a1
	glvBeta = feFromHex("7AE96A2B657C07106E64479EAC3434E99CF0497512F58995C1396C28719501EE")
)

func bigHex(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("comb: bad constant " + s)
	}
	return v
}

// splitScalar returns s1 and s2 (as magnitudes with signs) with s = s1 + s2 * lambda mod n.
func splitScalar(s *[32]byte) (s1, s2 [32]byte, neg1, neg2 bool) {
	k := new(big.Int).SetBytes(s[:])
	half := new(big.Int).Rsh(glvN, 1)
	round := func(num *big.Int) *big.Int { // round(num / n)
		q := new(big.Int).Add(num, half)
		return q.Div(q, glvN) // Euclidean division: floor for the positive numerator
	}
	c1 := round(new(big.Int).Mul(glvB2, k))
	c2 := round(new(big.Int).Mul(new(big.Int).Neg(glvB1), k))
	// k1 = k - c1*a1 - c2*a2; k2 = -c1*b1 - c2*b2
	k1 := new(big.Int).Sub(k, new(big.Int).Mul(c1, glvA1))
	k1.Sub(k1, new(big.Int).Mul(c2, glvA2))
	k2 := new(big.Int).Neg(new(big.Int).Mul(c1, glvB1))
	k2.Sub(k2, new(big.Int).Mul(c2, glvB2))
	neg1, neg2 = k1.Sign() < 0, k2.Sign() < 0
	k1.Abs(k1).FillBytes(s1[:])
	k2.Abs(k2).FillBytes(s2[:])
	return s1, s2, neg1, neg2
}

// oddMultiples returns P, 3P, 5P, ..., 15P.
func oddMultiples(p *jacobian) [1 << (wnafWidth - 2)]jacobian {
	var odd [1 << (wnafWidth - 2)]jacobian
	odd[0] = *p
	twoP := *p
	twoP.double()
	for i := 1; i < len(odd); i++ {
		odd[i] = odd[i-1]
		odd[i].add(&twoP)
	}
	return odd
}

func addDigit(acc *jacobian, odd *[1 << (wnafWidth - 2)]jacobian, d int8) {
	switch {
	case d > 0:
		acc.add(&odd[(d-1)/2])
	case d < 0:
		neg := odd[(-d-1)/2]
		neg.y.sub(&fe{}, &neg.y)
		acc.add(&neg)
	}
}

// mulVartime returns s * P: s split by the endomorphism, both halves in width-5 NAF, one
// shared run of about 129 doublings.
func mulVartime(pt *Affine, s *[32]byte) jacobian {
	s1, s2, neg1, neg2 := splitScalar(s)
	p1 := jacobian{pt.x, pt.y, fe{1}}
	if neg1 {
		p1.y.sub(&fe{}, &p1.y)
	}
	p2 := jacobian{pt.x, pt.y, fe{1}}
	p2.x.mul(&p2.x, &glvBeta)
	if neg2 {
		p2.y.sub(&fe{}, &p2.y)
	}
	odd1, odd2 := oddMultiples(&p1), oddMultiples(&p2)
	d1, n1 := wnaf(&s1)
	d2, n2 := wnaf(&s2)
	var acc jacobian
	for i := max(n1, n2) - 1; i >= 0; i-- {
		acc.double()
		addDigit(&acc, &odd1, d1[i])
		addDigit(&acc, &odd2, d2[i])
	}
	return acc
}

// VerifyVartime is Verify for a key without a table: u2*Q by the endomorphism and
// width-5 NAFs (about 129 doublings and 44 additions), u1*G from G's table.
func VerifyVartime(g *Table, q *Affine, u1, u2, r *[32]byte) bool {
	acc := mulVartime(q, u2)
	g.addMultiple(&acc, u1)
	return xMatches(&acc, r)
}
