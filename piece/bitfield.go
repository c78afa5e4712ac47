package piece

import (
	"errors"
	"fmt"
	"math/bits"
)

// Errors returned by FromBytes. They are wrapped with the lengths involved.
var (
	// ErrBitfieldLength means a wire bitfield does not have ceil(n/8) bytes.
	ErrBitfieldLength = errors.New("piece: bitfield has wrong length")
	// ErrSpareBits means a wire bitfield sets one of the spare bits after the last piece,
	// which BEP 3 says a client should treat as an error (it usually means a wrong torrent).
	ErrSpareBits = errors.New("piece: bitfield sets spare bits")
)

// Bitfield is a set of piece indices in [0, Len()). It stores its bits in BEP 3 wire
// order (bit 7 of byte 0 is piece 0), so Bytes is a copy and FromBytes a check, not a
// conversion. It keeps its count so that Count, All and None are O(1).
//
// The zero Bitfield is an empty set of length 0. Copy a Bitfield with Clone: a plain
// assignment shares the bits.
type Bitfield struct {
	b     []byte
	n     int
	count int
}

// New returns an empty Bitfield of n pieces. It panics if n is negative, which is a
// programming error, never a property of input.
func New(n int) Bitfield {
	if n < 0 {
		panic("piece: negative bitfield length")
	}
	return Bitfield{b: make([]byte, (n+7)/8), n: n}
}

// FromBytes parses a BEP 3 bitfield message payload for a torrent of n pieces. It copies b.
func FromBytes(b []byte, n int) (Bitfield, error) {
	if n < 0 {
		return Bitfield{}, fmt.Errorf("%w: negative piece count %d", ErrBitfieldLength, n)
	}
	if want := (n + 7) / 8; len(b) != want {
		return Bitfield{}, fmt.Errorf("%w: %d bytes for %d pieces (want %d)", ErrBitfieldLength, len(b), n, want)
	}
	if r := n % 8; r != 0 && b[len(b)-1]&(0xff>>r) != 0 {
		return Bitfield{}, fmt.Errorf("%w: last byte %#02x for %d pieces", ErrSpareBits, b[len(b)-1], n)
	}
	bf := Bitfield{b: append([]byte(nil), b...), n: n}
	for _, x := range bf.b {
		bf.count += bits.OnesCount8(x)
	}
	return bf, nil
}

// Len is the number of pieces the set ranges over.
func (bf *Bitfield) Len() int { return bf.n }

// Count is the number of pieces in the set.
func (bf *Bitfield) Count() int { return bf.count }

// All reports whether every piece is in the set (true for Len() == 0).
func (bf *Bitfield) All() bool { return bf.count == bf.n }

// None reports whether the set is empty.
func (bf *Bitfield) None() bool { return bf.count == 0 }

// Has reports whether piece i is in the set; out of range is false.
func (bf *Bitfield) Has(i int) bool {
	if uint(i) >= uint(bf.n) {
		return false
	}
	return bf.b[i>>3]&(0x80>>(i&7)) != 0
}

// Set adds piece i and reports whether it was absent. Out of range is ignored (false).
func (bf *Bitfield) Set(i int) bool {
	if uint(i) >= uint(bf.n) {
		return false
	}
	m := byte(0x80 >> (i & 7))
	if bf.b[i>>3]&m != 0 {
		return false
	}
	bf.b[i>>3] |= m
	bf.count++
	return true
}

// Clear removes piece i and reports whether it was present. Out of range is ignored.
func (bf *Bitfield) Clear(i int) bool {
	if uint(i) >= uint(bf.n) {
		return false
	}
	m := byte(0x80 >> (i & 7))
	if bf.b[i>>3]&m == 0 {
		return false
	}
	bf.b[i>>3] &^= m
	bf.count--
	return true
}

// SetAll adds every piece.
func (bf *Bitfield) SetAll() {
	for i := range bf.b {
		bf.b[i] = 0xff
	}
	if r := bf.n % 8; r != 0 {
		bf.b[len(bf.b)-1] = ^byte(0xff >> r)
	}
	bf.count = bf.n
}

// Bytes returns a copy of the set as a BEP 3 bitfield payload (high bit first, spare bits zero).
func (bf *Bitfield) Bytes() []byte { return append([]byte(nil), bf.b...) }

// AppendBytes appends the BEP 3 payload to dst, for writers that reuse a buffer.
func (bf *Bitfield) AppendBytes(dst []byte) []byte { return append(dst, bf.b...) }

// Clone returns an independent copy.
func (bf *Bitfield) Clone() Bitfield {
	return Bitfield{b: append([]byte(nil), bf.b...), n: bf.n, count: bf.count}
}

// HasMissing reports whether other holds a piece that bf lacks: with bf our own pieces
// and other a peer's, it says whether we are interested in that peer. Lengths must match;
// extra pieces of the longer set are ignored.
func (bf *Bitfield) HasMissing(other *Bitfield) bool {
	n := min(len(bf.b), len(other.b))
	for i := 0; i < n; i++ {
		if other.b[i]&^bf.b[i] != 0 {
			return true
		}
	}
	return false
}

// String shows the set as a run of 0 and 1, for tests and logs.
func (bf *Bitfield) String() string {
	s := make([]byte, bf.n)
	for i := range s {
		s[i] = '0'
		if bf.Has(i) {
			s[i] = '1'
		}
	}
	return string(s)
}
