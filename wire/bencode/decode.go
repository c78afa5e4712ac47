// Package bencode implements the bencoding of BEP 3: the serialization that .torrent files,
// extension messages, tracker replies and the DHT's KRPC packets share.
//
// Decoding is strict where laxness would let two peers disagree about a value (leading zeros,
// negative zero, truncated data, trailing bytes) and bounded: nesting depth is capped and every
// length is checked against the input before anything is sliced or allocated, so a hostile
// packet costs at most its own size. Dictionary keys are accepted in any order because real
// .torrent files in the wild are not always sorted; encoding always sorts them. RawMessage keeps
// the exact bytes of a value, which is how an info-hash is taken over the info dictionary as
// found rather than over a re-encoding.
package bencode

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
)

// DefaultMaxDepth bounds list and dictionary nesting. Nothing in BitTorrent nests deeper than a
// handful of levels; the cap keeps recursion on hostile input shallow.
const DefaultMaxDepth = 64

// RawMessage is a raw encoded bencode value. It keeps the exact bytes of a value on decode and
// is copied verbatim on encode.
type RawMessage []byte

// Marshaler is implemented by types that encode themselves.
type Marshaler interface {
	MarshalBencode() ([]byte, error)
}

// Unmarshaler is implemented by types that decode themselves from one complete bencode value.
type Unmarshaler interface {
	UnmarshalBencode([]byte) error
}

// A SyntaxError describes malformed bencode.
type SyntaxError struct {
	Offset int    // byte offset in the input where the problem was found
	Msg    string // what was wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("bencode: syntax error at offset %d: %s", e.Offset, e.Msg)
}

// An UnmarshalTypeError describes a bencode value that does not fit the Go value it is decoded into.
type UnmarshalTypeError struct {
	Value  string       // "integer", "string", "list", "dict", or a description such as "integer 300"
	Type   reflect.Type // the Go type it could not be assigned to
	Offset int
	Field  string // dictionary key path, when known
}

func (e *UnmarshalTypeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("bencode: cannot decode %s into Go field %s of type %s (offset %d)", e.Value, e.Field, e.Type, e.Offset)
	}
	return fmt.Sprintf("bencode: cannot decode %s into Go value of type %s (offset %d)", e.Value, e.Type, e.Offset)
}

// ErrInvalidTarget is returned when Unmarshal is not given a non-nil pointer.
var ErrInvalidTarget = errors.New("bencode: Unmarshal needs a non-nil pointer")

// Unmarshal decodes exactly one bencode value from data into v, which must be a non-nil pointer.
// Trailing bytes after the value are an error.
//
// Integers decode into any integer kind (overflow is an error) and into bool (0 or 1). Strings
// decode into string, []byte (copied) and [N]byte (exact length required). Lists decode into
// slices and arrays, dictionaries into structs (by `bencode:"key"` tags or the field name;
// unknown keys are skipped) and maps with string keys. Into an interface value, integers become
// int64, strings string, lists []any and dictionaries map[string]any.
func Unmarshal(data []byte, v any) error {
	return Decoder{}.Unmarshal(data, v)
}

// A Decoder holds decoding limits. The zero value uses DefaultMaxDepth.
type Decoder struct {
	MaxDepth int
}

// Unmarshal is like the package function with the decoder's limits.
func (d Decoder) Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return ErrInvalidTarget
	}
	ds := decodeState{data: data, maxDepth: d.MaxDepth}
	if ds.maxDepth <= 0 {
		ds.maxDepth = DefaultMaxDepth
	}
	// Validate the whole value first so a decode never half-fills v from broken input.
	end, err := ds.skip(0, 0)
	if err != nil {
		return err
	}
	if end != len(data) {
		return &SyntaxError{Offset: end, Msg: "trailing data after value"}
	}
	_, err = ds.value(0, rv.Elem(), "")
	return err
}

// Valid reports whether data is exactly one well-formed bencode value, and where it is not.
func Valid(data []byte) error {
	ds := decodeState{data: data, maxDepth: DefaultMaxDepth}
	end, err := ds.skip(0, 0)
	if err != nil {
		return err
	}
	if end != len(data) {
		return &SyntaxError{Offset: end, Msg: "trailing data after value"}
	}
	return nil
}

// Next returns the length of the first complete bencode value in data, which may be followed
// by other bytes (BEP 9 appends raw piece data after a dictionary).
func Next(data []byte) (int, error) {
	ds := decodeState{data: data, maxDepth: DefaultMaxDepth}
	return ds.skip(0, 0)
}

type decodeState struct {
	data     []byte
	maxDepth int
}

func (d *decodeState) errf(off int, format string, args ...any) error {
	return &SyntaxError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// skip validates the value at off and returns the offset just past it.
func (d *decodeState) skip(off, depth int) (int, error) {
	if off >= len(d.data) {
		return off, d.errf(off, "unexpected end of input")
	}
	switch c := d.data[off]; {
	case c == 'i':
		_, end, err := d.integer(off)
		return end, err
	case c >= '0' && c <= '9':
		_, end, err := d.str(off)
		return end, err
	case c == 'l':
		if depth >= d.maxDepth {
			return off, d.errf(off, "nesting deeper than %d", d.maxDepth)
		}
		off++
		for {
			if off >= len(d.data) {
				return off, d.errf(off, "unterminated list")
			}
			if d.data[off] == 'e' {
				return off + 1, nil
			}
			var err error
			if off, err = d.skip(off, depth+1); err != nil {
				return off, err
			}
		}
	case c == 'd':
		if depth >= d.maxDepth {
			return off, d.errf(off, "nesting deeper than %d", d.maxDepth)
		}
		off++
		for {
			if off >= len(d.data) {
				return off, d.errf(off, "unterminated dictionary")
			}
			if d.data[off] == 'e' {
				return off + 1, nil
			}
			if c := d.data[off]; c < '0' || c > '9' {
				return off, d.errf(off, "dictionary key is not a string")
			}
			_, end, err := d.str(off)
			if err != nil {
				return end, err
			}
			if end >= len(d.data) || d.data[end] == 'e' {
				return end, d.errf(end, "dictionary key without value")
			}
			if off, err = d.skip(end, depth+1); err != nil {
				return off, err
			}
		}
	default:
		return off, d.errf(off, "invalid byte %q", c)
	}
}

// integer parses "i<digits>e" at off.
func (d *decodeState) integer(off int) (int64, int, error) {
	start := off + 1
	end := start
	for end < len(d.data) && d.data[end] != 'e' {
		end++
	}
	if end >= len(d.data) {
		return 0, end, d.errf(off, "unterminated integer")
	}
	digits := d.data[start:end]
	if err := canonicalInt(digits); err != "" {
		return 0, end, d.errf(start, "%s", err)
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return 0, end, d.errf(start, "integer out of range")
	}
	return n, end + 1, nil
}

func canonicalInt(b []byte) string {
	if len(b) == 0 {
		return "empty integer"
	}
	s := b
	if s[0] == '-' {
		s = s[1:]
		if len(s) == 0 {
			return "bare minus sign"
		}
		if s[0] == '0' {
			return "negative zero or leading zero"
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return "leading zero in integer"
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return "non-digit in integer"
		}
	}
	return ""
}

// str parses "<len>:<bytes>" at off and returns the bytes (aliasing the input).
func (d *decodeState) str(off int) ([]byte, int, error) {
	colon := off
	n := 0
	for colon < len(d.data) && d.data[colon] != ':' {
		c := d.data[colon]
		if c < '0' || c > '9' {
			return nil, colon, d.errf(colon, "non-digit in string length")
		}
		if colon > off && d.data[off] == '0' {
			return nil, colon, d.errf(off, "leading zero in string length")
		}
		n = n*10 + int(c-'0')
		if n > len(d.data) {
			return nil, colon, d.errf(off, "string length exceeds input")
		}
		colon++
	}
	if colon >= len(d.data) {
		return nil, colon, d.errf(off, "unterminated string length")
	}
	start := colon + 1
	if n > len(d.data)-start {
		return nil, start, d.errf(off, "string of %d bytes runs past end of input", n)
	}
	return d.data[start : start+n], start + n, nil
}

var (
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
	rawType         = reflect.TypeFor[RawMessage]()
)

// value decodes the (already validated) value at off into v.
func (d *decodeState) value(off int, v reflect.Value, field string) (int, error) {
	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		end, err := d.skip(off, 0)
		if err != nil {
			return end, err
		}
		return end, v.Addr().Interface().(Unmarshaler).UnmarshalBencode(d.data[off:end])
	}
	if v.Type() == rawType {
		end, err := d.skip(off, 0)
		if err != nil {
			return end, err
		}
		v.SetBytes(append([]byte(nil), d.data[off:end]...))
		return end, nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.value(off, v.Elem(), field)
	case reflect.Interface:
		if v.NumMethod() != 0 {
			return off, d.typeErr(off, v.Type(), field)
		}
		x, end, err := d.anyValue(off)
		if err != nil {
			return end, err
		}
		v.Set(reflect.ValueOf(x))
		return end, nil
	}
	switch d.data[off] {
	case 'i':
		n, end, err := d.integer(off)
		if err != nil {
			return end, err
		}
		return end, d.setInt(off, v, n, field)
	case 'l':
		return d.list(off, v, field)
	case 'd':
		return d.dict(off, v, field)
	default:
		s, end, err := d.str(off)
		if err != nil {
			return end, err
		}
		switch {
		case v.Kind() == reflect.String:
			v.SetString(string(s))
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8:
			v.SetBytes(append([]byte(nil), s...))
		case v.Kind() == reflect.Array && v.Type().Elem().Kind() == reflect.Uint8:
			if len(s) != v.Len() {
				return end, &UnmarshalTypeError{Value: fmt.Sprintf("string of %d bytes", len(s)), Type: v.Type(), Offset: off, Field: field}
			}
			reflect.Copy(v, reflect.ValueOf(s))
		default:
			return end, d.typeErr(off, v.Type(), field)
		}
		return end, nil
	}
}

func (d *decodeState) typeErr(off int, t reflect.Type, field string) error {
	kind := map[byte]string{'i': "integer", 'l': "list", 'd': "dict"}[d.data[off]]
	if kind == "" {
		kind = "string"
	}
	return &UnmarshalTypeError{Value: kind, Type: t, Offset: off, Field: field}
}

func (d *decodeState) setInt(off int, v reflect.Value, n int64, field string) error {
	bad := func() error {
		return &UnmarshalTypeError{Value: "integer " + strconv.FormatInt(n, 10), Type: v.Type(), Offset: off, Field: field}
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.OverflowInt(n) {
			return bad()
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if n < 0 || v.OverflowUint(uint64(n)) {
			return bad()
		}
		v.SetUint(uint64(n))
	case reflect.Bool:
		if n != 0 && n != 1 {
			return bad()
		}
		v.SetBool(n == 1)
	default:
		return bad()
	}
	return nil
}

func (d *decodeState) list(off int, v reflect.Value, field string) (int, error) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return off, d.typeErr(off, v.Type(), field)
		}
		// Count first so the slice is allocated once at its real size: the count is bounded by the
		// input length, never by a number the input claims.
		n, err := d.count(off)
		if err != nil {
			return off, err
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		pos := off + 1
		for i := 0; i < n; i++ {
			if pos, err = d.value(pos, s.Index(i), field); err != nil {
				return pos, err
			}
		}
		v.Set(s)
		return pos + 1, nil
	case reflect.Array:
		n, err := d.count(off)
		if err != nil {
			return off, err
		}
		if n != v.Len() {
			return off, &UnmarshalTypeError{Value: fmt.Sprintf("list of %d", n), Type: v.Type(), Offset: off, Field: field}
		}
		pos := off + 1
		for i := 0; i < n; i++ {
			if pos, err = d.value(pos, v.Index(i), field); err != nil {
				return pos, err
			}
		}
		return pos + 1, nil
	default:
		return off, d.typeErr(off, v.Type(), field)
	}
}

// count returns the number of elements of the list at off.
func (d *decodeState) count(off int) (int, error) {
	n := 0
	pos := off + 1
	for d.data[pos] != 'e' {
		var err error
		if pos, err = d.skip(pos, 0); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

func (d *decodeState) dict(off int, v reflect.Value, field string) (int, error) {
	switch v.Kind() {
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return off, d.typeErr(off, v.Type(), field)
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		pos := off + 1
		for d.data[pos] != 'e' {
			k, end, err := d.str(pos)
			if err != nil {
				return end, err
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			if pos, err = d.value(end, ev, joinField(field, string(k))); err != nil {
				return pos, err
			}
			v.SetMapIndex(reflect.ValueOf(string(k)).Convert(v.Type().Key()), ev)
		}
		return pos + 1, nil
	case reflect.Struct:
		fields := structFields(v.Type())
		pos := off + 1
		for d.data[pos] != 'e' {
			k, end, err := d.str(pos)
			if err != nil {
				return end, err
			}
			f, ok := fields.byKey(string(k))
			if !ok {
				if pos, err = d.skip(end, 0); err != nil {
					return pos, err
				}
				continue
			}
			if pos, err = d.value(end, v.FieldByIndex(f.index), joinField(field, f.key)); err != nil {
				return pos, err
			}
		}
		return pos + 1, nil
	default:
		return off, d.typeErr(off, v.Type(), field)
	}
}

func joinField(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// anyValue decodes into the generic representation.
func (d *decodeState) anyValue(off int) (any, int, error) {
	switch d.data[off] {
	case 'i':
		n, end, err := d.integer(off)
		return n, end, err
	case 'l':
		var out []any
		pos := off + 1
		for d.data[pos] != 'e' {
			x, end, err := d.anyValue(pos)
			if err != nil {
				return nil, end, err
			}
			out = append(out, x)
			pos = end
		}
		if out == nil {
			out = []any{}
		}
		return out, pos + 1, nil
	case 'd':
		out := map[string]any{}
		pos := off + 1
		for d.data[pos] != 'e' {
			k, end, err := d.str(pos)
			if err != nil {
				return nil, end, err
			}
			x, end, err := d.anyValue(end)
			if err != nil {
				return nil, end, err
			}
			out[string(k)] = x
			pos = end
		}
		return out, pos + 1, nil
	default:
		s, end, err := d.str(off)
		return string(s), end, err
	}
}
