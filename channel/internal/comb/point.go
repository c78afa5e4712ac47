package comb

// Affine is a point (x, y) on the curve; never the point at infinity.
type Affine struct{ x, y fe }

// NewAffine returns the point with big-endian coordinates x and y. It reports false when a
// coordinate is not below p or the point is not on y^2 = x^3 + 7.
func NewAffine(x, y *[32]byte) (Affine, bool) {
	var a Affine
	if !a.x.setBytes(x) || !a.y.setBytes(y) {
		return a, false
	}
	var y2, x3 fe
	y2.sqr(&a.y)
	x3.sqr(&a.x)
	x3.mul(&x3, &a.x)
	x3.add(&x3, &fe{7})
	return a, y2 == x3
}

// jacobian is (X, Y, Z) standing for (X/Z^2, Y/Z^3); Z = 0 is the point at infinity.
type jacobian struct{ x, y, z fe }

func (j *jacobian) isInfinity() bool { return j.z.isZero() }

// addAffine sets j = j + a (mixed addition, 8M + 3S).
func (j *jacobian) addAffine(a *Affine) {
	if j.isInfinity() {
		*j = jacobian{a.x, a.y, fe{1}}
		return
	}
	var z1z1, u2, s2, h, r fe
	z1z1.sqr(&j.z)
	u2.mul(&a.x, &z1z1)
	s2.mul(&a.y, &j.z)
	s2.mul(&s2, &z1z1)
	h.sub(&u2, &j.x)
	r.sub(&s2, &j.y)
	u1, s1, z := j.x, j.y, j.z
	j.finishAdd(&u1, &s1, &h, &r, &z)
}

// add sets j = j + o for two Jacobian points (12M + 4S).
func (j *jacobian) add(o *jacobian) {
	switch {
	case o.isInfinity():
		return
	case j.isInfinity():
		*j = *o
		return
	}
	var z1z1, z2z2, u1, u2, s1, s2, h, r, z fe
	z1z1.sqr(&j.z)
	z2z2.sqr(&o.z)
	u1.mul(&j.x, &z2z2)
	u2.mul(&o.x, &z1z1)
	s1.mul(&j.y, &o.z)
	s1.mul(&s1, &z2z2)
	s2.mul(&o.y, &j.z)
	s2.mul(&s2, &z1z1)
	h.sub(&u2, &u1)
	r.sub(&s2, &s1)
	z.mul(&j.z, &o.z)
	j.finishAdd(&u1, &s1, &h, &r, &z)
}

// finishAdd is the common end of both additions, in the terms of the add-2007-bl formulas:
// u1 and s1 are j's x and y scaled to the other point's Z, h and r the differences of the
// scaled x and y, z the product of both Z. When h is zero the points share x: the same
// point doubles, opposite points sum to infinity.
func (j *jacobian) finishAdd(u1, s1, h, r, z *fe) {
	if h.isZero() {
		if r.isZero() {
			j.double()
		} else {
			*j = jacobian{}
		}
		return
	}
	var hh, hhh, v, x3, y3, t fe
	hh.sqr(h)
	hhh.mul(h, &hh)
	v.mul(u1, &hh)
	x3.sqr(r)
	x3.sub(&x3, &hhh)
	x3.sub(&x3, &v)
	x3.sub(&x3, &v)
	y3.sub(&v, &x3)
	y3.mul(&y3, r)
	t.mul(s1, &hhh)
	y3.sub(&y3, &t)
	j.z.mul(z, h)
	j.x, j.y = x3, y3
}

// double sets j = 2j (a = 0: 2M + 5S).
func (j *jacobian) double() {
	if j.isInfinity() || j.y.isZero() {
		*j = jacobian{}
		return
	}
	var a, b, cc, d, e, f, t fe
	a.sqr(&j.x)
	b.sqr(&j.y)
	cc.sqr(&b)
	d.add(&j.x, &b)
	d.sqr(&d)
	d.sub(&d, &a)
	d.sub(&d, &cc)
	d.add(&d, &d)
	e.add(&a, &a)
	e.add(&e, &a)
	f.sqr(&e)
	var x3, y3, z3 fe
	x3.sub(&f, &d)
	x3.sub(&x3, &d)
	y3.sub(&d, &x3)
	y3.mul(&y3, &e)
	t.add(&cc, &cc)
	t.add(&t, &t)
	t.add(&t, &t)
	y3.sub(&y3, &t)
	z3.mul(&j.y, &j.z)
	z3.add(&z3, &z3)
	j.x, j.y, j.z = x3, y3, z3
}
