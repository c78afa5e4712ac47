package piece

import (
	"bytes"
	"errors"
	"testing"

	"github.com/speedbt/btt/internal/testutil"
)

func TestFromBytes(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		n     int
		err   error
		count int
	}{
		{"empty", nil, 0, nil, 0},
		{"exact byte", []byte{0xff}, 8, nil, 8},
		{"one of nine", []byte{0x80, 0x00}, 9, nil, 1},
		{"last of nine", []byte{0x00, 0x80}, 9, nil, 1},
		{"spare bit set", []byte{0x00, 0x40}, 9, ErrSpareBits, 0},
		{"spare bit low", []byte{0x01}, 7, ErrSpareBits, 0},
		{"too short", []byte{0xff}, 9, ErrBitfieldLength, 0},
		{"too long", []byte{0xff, 0, 0}, 9, ErrBitfieldLength, 0},
		{"negative n", nil, -1, ErrBitfieldLength, 0},
		{"all of 12", []byte{0xff, 0xf0}, 12, nil, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bf, err := FromBytes(tc.in, tc.n)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if bf.Count() != tc.count || bf.Len() != tc.n {
				t.Fatalf("count %d len %d, want %d %d", bf.Count(), bf.Len(), tc.count, tc.n)
			}
			if !bytes.Equal(bf.Bytes(), tc.in) && !(len(tc.in) == 0 && len(bf.Bytes()) == 0) {
				t.Fatalf("Bytes = %x, want %x", bf.Bytes(), tc.in)
			}
		})
	}
}

func TestBitfieldOps(t *testing.T) {
	bf := New(10)
	if !bf.None() || bf.All() {
		t.Fatal("new bitfield not empty")
	}
	for _, i := range []int{0, 3, 9, 9, -1, 10} {
		bf.Set(i)
	}
	if got := bf.String(); got != "1001000001" {
		t.Fatalf("String = %s", got)
	}
	if bf.Count() != 3 || !bf.Has(9) || bf.Has(10) || bf.Has(-1) {
		t.Fatalf("count %d", bf.Count())
	}
	if want := []byte{0x90, 0x40}; !bytes.Equal(bf.Bytes(), want) {
		t.Fatalf("Bytes %x want %x (BEP 3: high bit first)", bf.Bytes(), want)
	}
	c := bf.Clone()
	if !bf.Clear(3) || bf.Clear(3) || bf.Count() != 2 || !c.Has(3) {
		t.Fatal("Clear or Clone wrong")
	}
	bf.SetAll()
	if !bf.All() || bf.Count() != 10 {
		t.Fatal("SetAll")
	}
	if want := []byte{0xff, 0xc0}; !bytes.Equal(bf.Bytes(), want) {
		t.Fatalf("SetAll bytes %x: spare bits must stay zero", bf.Bytes())
	}
	if _, err := FromBytes(bf.Bytes(), 10); err != nil {
		t.Fatal(err)
	}
	other := New(10)
	if bf.HasMissing(&other) {
		t.Fatal("empty peer cannot be interesting")
	}
	other.Set(5)
	mine := New(10)
	if !mine.HasMissing(&other) {
		t.Fatal("peer with piece 5 is interesting")
	}
}

func TestLayout(t *testing.T) {
	l := Layout{NumPieces: 3, PieceLength: 40000, TotalLength: 90000}
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		piece, blocks int
		size          int64
		last          Block
	}{
		{0, 3, 40000, Block{0, 32768, 40000 - 32768}},
		{2, 1, 10000, Block{2, 0, 10000}},
	}
	for _, tc := range tests {
		if l.PieceSize(tc.piece) != tc.size || l.Blocks(tc.piece) != tc.blocks {
			t.Errorf("piece %d: size %d blocks %d", tc.piece, l.PieceSize(tc.piece), l.Blocks(tc.piece))
		}
		if b := l.Block(tc.piece, tc.blocks-1); b != tc.last || !l.Valid(b) {
			t.Errorf("last block %v want %v", b, tc.last)
		}
	}
	for _, b := range []Block{{0, 1, 16384}, {0, 0, 100}, {3, 0, 16384}, {2, 16384, 1}, {0, 49152, 1}} {
		if l.Valid(b) {
			t.Errorf("%v valid", b)
		}
	}
	for _, bad := range []Layout{{2, 40000, 90000}, {1, 0, 0}, {0, 1 << 29, 0}, {1, 10, -1}} {
		if bad.Check() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestBitfieldVector decodes libtorrent's bitfield message (payload after the 5-byte
// length+id header) and re-encodes it.
func TestBitfieldVector(t *testing.T) {
	v := testutil.Vector(t, "bt/libtorrent-2.0.8/bitfield-partial.bin")
	payload := v[5:]
	bf, err := FromBytes(payload, 36) // 0x70 in the last byte: pieces 33-35 set, 36+ spare
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bf.Bytes(), payload) || bf.Count() != 14 || !bf.Has(0) || bf.Has(5) || !bf.Has(35) {
		t.Fatalf("%s count %d", bf.String(), bf.Count())
	}
	if _, err := FromBytes(payload, 34); !errors.Is(err, ErrSpareBits) {
		t.Fatalf("34 pieces: %v", err)
	}
}
