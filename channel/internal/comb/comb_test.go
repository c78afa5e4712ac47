package comb

import (
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

var bigP, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F", 16)

func toBig(f *fe) *big.Int {
	b := f.bytes()
	return new(big.Int).SetBytes(b[:])
}

func fromBig(t *testing.T, x *big.Int) fe {
	t.Helper()
	var b [32]byte
	x.FillBytes(b[:])
	var f fe
	if !f.setBytes(&b) {
		t.Fatalf("%x is not below p", x)
	}
	return f
}

// fieldValues are edge values and random ones, all below p.
func fieldValues(t *testing.T, rng *rand.Rand, n int) []fe {
	edges := []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(2), big.NewInt(0x1000003D1),
		new(big.Int).Sub(bigP, big.NewInt(1)), new(big.Int).Sub(bigP, big.NewInt(2)),
		new(big.Int).Lsh(big.NewInt(1), 255), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(0x1000003D2)),
		new(big.Int).Lsh(big.NewInt(1), 64), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))}
	var out []fe
	for _, e := range edges {
		out = append(out, fromBig(t, e))
	}
	for len(out) < n {
		var f fe
		for i := range f {
			f[i] = rng.Uint64()
		}
		switch rng.IntN(4) { // bias towards limbs of all ones, where carries run far
		case 0:
			f[1], f[2], f[3] = ^uint64(0), ^uint64(0), ^uint64(0)
		case 1:
			f[0] = ^uint64(0)
		}
		if toBig(&f).Cmp(bigP) < 0 {
			out = append(out, f)
		}
	}
	return out
}

func TestFieldMatchesBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := fieldValues(t, rng, 300)
	for i, x := range vals {
		for j := 0; j < len(vals); j += 1 + i%7 {
			y := vals[j]
			bx, by := toBig(&x), toBig(&y)
			var got fe
			check := func(op string, want *big.Int) {
				t.Helper()
				want.Mod(want, bigP)
				if toBig(&got).Cmp(want) != 0 || toBig(&got).Cmp(bigP) >= 0 {
					t.Fatalf("%s(%x, %x) = %x, want %x", op, bx, by, toBig(&got), want)
				}
			}
			got.add(&x, &y)
			check("add", new(big.Int).Add(bx, by))
			got.sub(&x, &y)
			check("sub", new(big.Int).Sub(bx, by))
			got.mul(&x, &y)
			check("mul", new(big.Int).Mul(bx, by))
			got.sqr(&y)
			check("sqr", new(big.Int).Mul(by, by))
			got.mulGeneric(&x, &y)
			check("mulGeneric", new(big.Int).Mul(bx, by))
			got.sqrGeneric(&y)
			check("sqrGeneric", new(big.Int).Mul(by, by))
			// The result may be an operand (the point formulas do that).
			got = x
			got.sub(&got, &y)
			check("sub into x", new(big.Int).Sub(bx, by))
			got = y
			got.add(&x, &got)
			check("add into y", new(big.Int).Add(bx, by))
			got = y
			got.mul(&x, &got)
			check("mul into y", new(big.Int).Mul(bx, by))
		}
		var got fe
		got.inv(&x)
		want := new(big.Int).ModInverse(toBig(&x), bigP)
		if want == nil {
			want = new(big.Int)
		}
		if toBig(&got).Cmp(want) != 0 {
			t.Fatalf("inv(%x) = %x, want %x", toBig(&x), toBig(&got), want)
		}
	}
}

// TestFieldADX checks the assembly multiplication and squaring against math/big and against
// mulGeneric and sqrGeneric, on edge values, values whose limbs are all ones, and random
// 256-bit operands, reduced or not (the reduction handles any 512-bit product).
func TestFieldADX(t *testing.T) {
	if !useADX {
		t.Skip("no BMI2 and ADX (or not amd64, or purego)")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	vals := fieldValues(t, rng, 200)
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for len(vals) < n {
		var f fe
		for i := range f {
			switch rng.IntN(4) {
			case 0:
				f[i] = ^uint64(0)
			case 1:
				f[i] = rng.Uint64() >> rng.IntN(64)
			default:
				f[i] = rng.Uint64()
			}
		}
		vals = append(vals, f)
	}
	for i, x := range vals {
		y := vals[(i*7919+1)%len(vals)]
		checkFieldADX(t, &x, &y)
	}
}

func checkFieldADX(t *testing.T, x, y *fe) {
	t.Helper()
	bx, by := new(big.Int), new(big.Int)
	for i := 3; i >= 0; i-- { // toBig, without the reduced-input assumption of bytes
		bx.Lsh(bx, 64).Or(bx, new(big.Int).SetUint64(x[i]))
		by.Lsh(by, 64).Or(by, new(big.Int).SetUint64(y[i]))
	}
	var got, gen fe
	mulADX(&got, x, y)
	gen.mulGeneric(x, y)
	want := new(big.Int).Mul(bx, by)
	want.Mod(want, bigP)
	if toBig(&got).Cmp(want) != 0 || got != gen {
		t.Fatalf("mulADX(%x, %x) = %x, generic %x, want %x", bx, by, toBig(&got), toBig(&gen), want)
	}
	sqrADX(&got, x)
	gen.sqrGeneric(x)
	want.Mul(bx, bx).Mod(want, bigP)
	if toBig(&got).Cmp(want) != 0 || got != gen {
		t.Fatalf("sqrADX(%x) = %x, generic %x, want %x", bx, toBig(&got), toBig(&gen), want)
	}
	got = *x // in place, as the point formulas do
	mulADX(&got, &got, y)
	if got != gen.mulGenericRet(x, y) {
		t.Fatalf("mulADX in place (%x, %x) = %x", bx, by, toBig(&got))
	}
}

func (z *fe) mulGenericRet(x, y *fe) fe {
	var r fe
	r.mulGeneric(x, y)
	return r
}

// FuzzFieldMul compares the assembly field arithmetic with math/big and the generic code.
func FuzzFieldMul(f *testing.F) {
	f.Add(make([]byte, 64))
	ones := make([]byte, 64)
	for i := range ones {
		ones[i] = 0xff
	}
	f.Add(ones)
	f.Fuzz(func(t *testing.T, b []byte) {
		if !useADX || len(b) < 64 {
			return
		}
		var x, y fe
		for i := range 4 {
			x[i] = binary.LittleEndian.Uint64(b[8*i:])
			y[i] = binary.LittleEndian.Uint64(b[32+8*i:])
		}
		checkFieldADX(t, &x, &y)
	})
}

func BenchmarkFieldMulGeneric(b *testing.B) {
	x, y := Generator().x, Generator().y
	for b.Loop() {
		x.mulGeneric(&x, &y)
	}
}

func BenchmarkFieldSqrGeneric(b *testing.B) {
	x := Generator().x
	for b.Loop() {
		x.sqrGeneric(&x)
	}
}

func TestSetBytesRange(t *testing.T) {
	b := bigP.FillBytes(make([]byte, 32))
	var f fe
	if f.setBytes((*[32]byte)(b)) {
		t.Fatal("p accepted as a field element")
	}
	b[31]--
	if !f.setBytes((*[32]byte)(b)) || f.bytes() != [32]byte(b) {
		t.Fatal("p-1 refused or changed")
	}
}

// testScalar returns the i-th test scalar, reduced mod n, as bytes and as the reference's
// type: small multiples first (1, 2: a doubling inside a sum, 3, ...), then digit patterns at
// the edges of the signed and NAF recodings (all ones: every digit negative and carries to
// the top; 0x80 and 0x10: digits of exactly half the base, carries that make a digit equal to
// the base), then n - 1, then random ones.
func testScalar(rng *rand.Rand, i int) ([32]byte, btcec.ModNScalar) {
	var s [32]byte
	switch {
	case i < 20:
		s[31] = byte(i + 1)
	case i < 40:
		for j := range s {
			s[j] = []byte{0xff, 0x80, 0x10, 0x7f, 0x88, 0xf8, 0x0f, 0xf0}[i%8]
		}
		s[0] = byte(i) << 2
	case i == 40:
		s = orderN.bytes()
		s[31]--
	default:
		for j := range s {
			s[j] = byte(rng.Uint32())
		}
	}
	var k btcec.ModNScalar
	k.SetBytes(&s)
	return k.Bytes(), k
}

func affineOf(t *testing.T, p *btcec.JacobianPoint) Affine {
	t.Helper()
	p.ToAffine()
	x, y := [32]byte(p.X.Bytes()[:]), [32]byte(p.Y.Bytes()[:])
	a, ok := NewAffine(&x, &y)
	if !ok {
		t.Fatal("reference point not on the curve")
	}
	return a
}

// The table's multiples and the point formulas agree with the reference implementation.
func TestTableMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tables := []*Table{NewTable(Generator(), 2), NewTable(Generator(), 4), NewTable(Generator(), KeyWindow), NewTable(Generator(), GeneratorWindow)}
	for i := range 300 {
		s, k := testScalar(rng, i)
		var want btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&k, &want)
		wantA := affineOf(t, &want)
		for _, g := range tables {
			var acc jacobian
			g.addMultiple(&acc, &s)
			got, ok := acc.affine()
			if !ok || got != wantA {
				t.Fatalf("%x * G (window %d) differs from the reference", s, g.w)
			}
		}
	}
}

func TestPointEdgeCases(t *testing.T) {
	gen := Generator()
	var j jacobian
	j.addAffine(&gen)
	j.addAffine(&gen) // same point: doubles
	var d jacobian
	d.addAffine(&gen)
	d.double()
	a1, _ := j.affine()
	a2, _ := d.affine()
	if a1 != a2 {
		t.Fatal("G + G != 2G")
	}
	neg := gen
	neg.y.sub(&fe{}, &gen.y)
	var z jacobian
	z.addAffine(&gen)
	z.addAffine(&neg)
	if !z.isInfinity() {
		t.Fatal("G + (-G) is not infinity")
	}
	z.addAffine(&gen)
	if a, ok := z.affine(); !ok || a != gen {
		t.Fatal("infinity + G != G")
	}
	var one [32]byte
	one[31] = 1
	x, y := gen.x.bytes(), gen.y.bytes()
	y[31] ^= 1
	if _, ok := NewAffine(&x, &y); ok {
		t.Fatal("a point off the curve accepted")
	}
}

func BenchmarkFieldMul(b *testing.B) {
	x, y := Generator().x, Generator().y
	for b.Loop() {
		x.mul(&x, &y)
	}
}

func BenchmarkFieldSqr(b *testing.B) {
	x := Generator().x
	for b.Loop() {
		x.sqr(&x)
	}
}

func BenchmarkVerify(b *testing.B) {
	g := NewTable(Generator(), GeneratorWindow)
	var k btcec.ModNScalar
	k.SetInt(12345)
	var q btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k, &q)
	q.ToAffine()
	qx, qy := [32]byte(q.X.Bytes()[:]), [32]byte(q.Y.Bytes()[:])
	qa, _ := NewAffine(&qx, &qy)
	qt := NewTable(qa, KeyWindow)
	var u1, u2, r [32]byte
	for i := range u1 {
		u1[i], u2[i], r[i] = byte(i*37+1), byte(i*91+5), byte(i)
	}
	b.ResetTimer()
	for b.Loop() {
		Verify(g, qt, &u1, &u2, &r)
	}
}

func BenchmarkNewTable(b *testing.B) {
	for b.Loop() {
		NewTable(Generator(), KeyWindow)
	}
}

// The variable-base multiplication agrees with the reference for random and edge scalars.
func TestMulVartimeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var k0 btcec.ModNScalar
	k0.SetInt(987654321)
	var qj btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k0, &qj)
	q := affineOf(t, &qj)
	btcec.ScalarBaseMultNonConst(&k0, &qj) // affineOf normalised it; start again for the reference
	for i := range 300 {
		s, k := testScalar(rng, i)
		var want btcec.JacobianPoint
		btcec.ScalarMultNonConst(&k, &qj, &want)
		got := mulVartime(&q, &s)
		ga, ok := got.affine()
		if !ok || ga != affineOf(t, &want) {
			t.Fatalf("%x * Q differs from the reference", s)
		}
		digits, n := wnaf(&s)
		for j := 0; j < n; j++ {
			if d := digits[j]; d != 0 && (d%2 == 0 || d > 15 || d < -15) {
				t.Fatalf("digit %d of %x is %d", j, s, d)
			}
		}
	}
}

func TestJacobianAddEdgeCases(t *testing.T) {
	g := Generator()
	p := jacobian{g.x, g.y, fe{1}}
	p.double() // 2G with Z != 1
	twice := p
	twice.add(&p) // same point: doubles
	want := p
	want.double()
	a1, _ := twice.affine()
	a2, _ := want.affine()
	if a1 != a2 {
		t.Fatal("P + P != 2P")
	}
	neg := p
	neg.y.sub(&fe{}, &neg.y)
	z := p
	z.add(&neg)
	if !z.isInfinity() {
		t.Fatal("P + (-P) is not infinity")
	}
	z.add(&p)
	if a, _ := z.affine(); a != func() Affine { a, _ := p.affine(); return a }() {
		t.Fatal("infinity + P != P")
	}
}

func BenchmarkVerifyVartime(b *testing.B) {
	g := NewTable(Generator(), GeneratorWindow)
	var u1, u2, r [32]byte
	for i := range u1 {
		u1[i], u2[i], r[i] = byte(i*37+1), byte(i*91+5), byte(i)
	}
	q := Generator()
	for b.Loop() {
		VerifyVartime(g, &q, &u1, &u2, &r)
	}
}

// The endomorphism split recombines to the scalar, with halves of at most 129 bits.
func TestSplitScalar(t *testing.T) {
	lambda := bigHex("5363AD4CC05C30E0A5261C028812645A122E22EA20816678DF02967C1B23BD72")
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 500 {
		var s [32]byte
		for j := range s {
			s[j] = byte(rng.Uint32())
		}
		switch {
		case i == 0:
			s = [32]byte{}
		case i == 1:
			s = [32]byte(orderN.bytes())
			s[31]--
		case i < 10:
			s = [32]byte(lambda.FillBytes(make([]byte, 32)))
			s[31] += byte(i)
		}
		k := new(big.Int).Mod(new(big.Int).SetBytes(s[:]), glvN)
		k.FillBytes(s[:])
		s1, s2, neg1, neg2 := splitScalar(&s)
		k1, k2 := new(big.Int).SetBytes(s1[:]), new(big.Int).SetBytes(s2[:])
		if k1.BitLen() > 129 || k2.BitLen() > 129 {
			t.Fatalf("%x: halves of %d and %d bits", s, k1.BitLen(), k2.BitLen())
		}
		if neg1 {
			k1.Neg(k1)
		}
		if neg2 {
			k2.Neg(k2)
		}
		sum := new(big.Int).Add(k1, new(big.Int).Mul(k2, lambda))
		if sum.Mod(sum, glvN).Cmp(k) != 0 {
			t.Fatalf("%x: s1 + s2*lambda = %x", s, sum)
		}
	}
}

// affine returns j in affine coordinates; ok is false for the point at infinity.
func (j *jacobian) affine() (a Affine, ok bool) {
	if j.isInfinity() {
		return a, false
	}
	var zi, zi2, zi3 fe
	zi.inv(&j.z)
	zi2.sqr(&zi)
	zi3.mul(&zi2, &zi)
	a.x.mul(&j.x, &zi2)
	a.y.mul(&j.y, &zi3)
	return a, true
}
