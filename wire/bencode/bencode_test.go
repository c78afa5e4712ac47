package bencode

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUnmarshalGeneric(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"i0e", int64(0)},
		{"i-42e", int64(-42)},
		{"i9223372036854775807e", int64(9223372036854775807)},
		{"0:", ""},
		{"4:spam", "spam"},
		{"le", []any{}},
		{"l4:spami7ee", []any{"spam", int64(7)}},
		{"de", map[string]any{}},
		{"d3:cow3:moo4:spaml1:a1:bee", map[string]any{"cow": "moo", "spam": []any{"a", "b"}}},
		{"d1:bi1e1:ai2ee", map[string]any{"a": int64(2), "b": int64(1)}}, // unsorted keys are accepted
	}
	for _, tt := range tests {
		var got any
		if err := Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("Unmarshal(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Unmarshal(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	bad := []string{
		"", "i", "ie", "i-e", "i-0e", "i03e", "i1", "i1x2e", "i99999999999999999999e",
		"5:abc", "01:a", "-1:a", "1a", ":", "l", "li1e", "d", "d1:ae", "di1ei2ee", "d1:a", "x",
		"i1ei2e", // trailing data
		"4:spamx",
		"18446744073709551616:x", // length overflow must not wrap
	}
	for _, in := range bad {
		var v any
		err := Unmarshal([]byte(in), &v)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Unmarshal(%q) = %v, want *SyntaxError", in, err)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	deep := make([]byte, 0, 200)
	for range 100 {
		deep = append(deep, 'l')
	}
	for range 100 {
		deep = append(deep, 'e')
	}
	var v any
	if err := Unmarshal(deep, &v); err == nil {
		t.Fatal("100-deep list accepted with the default depth limit")
	}
	if err := (Decoder{MaxDepth: 101}).Unmarshal(deep, &v); err != nil {
		t.Fatalf("with MaxDepth 101: %v", err)
	}
}

type inner struct {
	N int `bencode:"n"`
}

type sample struct {
	Name    string            `bencode:"name"`
	Length  int64             `bencode:"length"`
	Hash    [4]byte           `bencode:"hash"`
	Data    []byte            `bencode:"data,omitempty"`
	List    []inner           `bencode:"list,omitempty"`
	Private bool              `bencode:"private,omitempty"`
	Extra   map[string]int    `bencode:"extra,omitempty"`
	Raw     RawMessage        `bencode:"raw,omitempty"`
	Ptr     *inner            `bencode:"ptr,omitempty"`
	Skip    string            `bencode:"-"`
	Nested  map[string][]byte `bencode:"nested,omitempty"`
}

func TestStructRoundTrip(t *testing.T) {
	in := sample{
		Name: "x", Length: 5, Hash: [4]byte{1, 2, 3, 4}, Data: []byte{0, 255},
		List: []inner{{1}, {2}}, Private: true, Extra: map[string]int{"b": 2, "a": 1},
		Raw: RawMessage("d1:ai1ee"), Ptr: &inner{9}, Nested: map[string][]byte{"k": []byte("v")},
	}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = "d4:data2:\x00\xff5:extrad1:ai1e1:bi2ee4:hash4:\x01\x02\x03\x046:lengthi5e4:listld1:ni1eed1:ni2eee4:name1:x6:nestedd1:k1:ve7:privatei1e3:ptrd1:ni9ee3:rawd1:ai1eee"
	if string(b) != want {
		t.Fatalf("Marshal =\n%q\nwant\n%q", b, want)
	}
	var out sample
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip mismatch (-in +out):\n%s", diff)
	}
}

func TestTypeErrors(t *testing.T) {
	tests := []struct {
		in string
		v  any
	}{
		{"i300e", new(uint8)},
		{"i-1e", new(uint32)},
		{"i2e", new(bool)},
		{"3:abc", new([4]byte)},
		{"3:abc", new(int)},
		{"li1ee", new(string)},
		{"d4:namei1ee", new(sample)},
		{"li1ei2ee", new([1]int)},
		{"di1e", new(any)}, // syntax, checked before types
	}
	for _, tt := range tests {
		if err := Unmarshal([]byte(tt.in), tt.v); err == nil {
			t.Errorf("Unmarshal(%q, %T) succeeded", tt.in, tt.v)
		}
	}
	if err := Unmarshal([]byte("i1e"), 5); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("non-pointer target: %v", err)
	}
}

func TestRawMessageKeepsExactBytes(t *testing.T) {
	// An info dict with unsorted keys must come back byte for byte: the info-hash depends on it.
	in := []byte("d4:infod4:name1:x6:lengthi1eee")
	var m struct {
		Info RawMessage `bencode:"info"`
	}
	if err := Unmarshal(in, &m); err != nil {
		t.Fatal(err)
	}
	if string(m.Info) != "d4:name1:x6:lengthi1ee" {
		t.Fatalf("raw = %q", m.Info)
	}
}

func TestNext(t *testing.T) {
	n, err := Next([]byte("d8:msg_typei1e5:piecei0eeDATA"))
	if err != nil || n != 25 {
		t.Fatalf("Next = %d, %v", n, err)
	}
}

func TestMarshalErrors(t *testing.T) {
	for _, v := range []any{nil, map[int]int{1: 1}, 1.5, struct{ P *int }{}, RawMessage("x")} {
		if _, err := Marshal(v); err == nil {
			t.Errorf("Marshal(%#v) succeeded", v)
		}
	}
}

func BenchmarkUnmarshalStruct(b *testing.B) {
	in, _ := Marshal(sample{Name: "x", Length: 5, List: []inner{{1}, {2}}})
	b.ReportAllocs()
	for b.Loop() {
		var s sample
		if err := Unmarshal(in, &s); err != nil {
			b.Fatal(err)
		}
	}
}
