package bencode

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
)

// An UnsupportedTypeError is returned by Marshal for a Go value with no bencode form.
type UnsupportedTypeError struct {
	Type reflect.Type
}

func (e *UnsupportedTypeError) Error() string {
	return "bencode: unsupported type " + e.Type.String()
}

var marshalerType = reflect.TypeFor[Marshaler]()

// Marshal returns the bencoding of v. Dictionary keys are written in sorted order (raw byte
// order), as BEP 3 requires. Booleans encode as the integers 0 and 1; byte slices, byte arrays and
// strings as strings; structs as dictionaries keyed by their `bencode` tags. A nil pointer, nil
// interface or nil map field needs `omitempty`.
func Marshal(v any) ([]byte, error) {
	return Append(nil, v)
}

// Append appends the bencoding of v to dst.
func Append(dst []byte, v any) ([]byte, error) {
	return appendValue(dst, reflect.ValueOf(v))
}

// AppendString appends a bencoded string; AppendInt a bencoded integer. They let hot paths
// build messages without reflection.
func AppendString(dst []byte, s string) []byte {
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ':')
	return append(dst, s...)
}

// AppendBytes appends b as a bencoded string.
func AppendBytes(dst []byte, b []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, ':')
	return append(dst, b...)
}

// AppendInt appends a bencoded integer.
func AppendInt(dst []byte, n int64) []byte {
	dst = append(dst, 'i')
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, 'e')
}

func appendValue(dst []byte, v reflect.Value) ([]byte, error) {
	if !v.IsValid() {
		return dst, errors.New("bencode: cannot encode nil value")
	}
	if v.Type() == rawType {
		raw := v.Bytes()
		if err := Valid(raw); err != nil {
			return dst, fmt.Errorf("bencode: invalid RawMessage: %w", err)
		}
		return append(dst, raw...), nil
	}
	if v.Type().Implements(marshalerType) && !(v.Kind() == reflect.Pointer && v.IsNil()) {
		b, err := v.Interface().(Marshaler).MarshalBencode()
		if err != nil {
			return dst, err
		}
		if err := Valid(b); err != nil {
			return dst, fmt.Errorf("bencode: %s.MarshalBencode: %w", v.Type(), err)
		}
		return append(dst, b...), nil
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return AppendInt(dst, v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		dst = append(dst, 'i')
		dst = strconv.AppendUint(dst, v.Uint(), 10)
		return append(dst, 'e'), nil
	case reflect.Bool:
		if v.Bool() {
			return append(dst, "i1e"...), nil
		}
		return append(dst, "i0e"...), nil
	case reflect.String:
		return AppendString(dst, v.String()), nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return dst, errors.New("bencode: cannot encode nil " + v.Type().String())
		}
		return appendValue(dst, v.Elem())
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if v.Kind() == reflect.Slice {
				return AppendBytes(dst, v.Bytes()), nil
			}
			dst = strconv.AppendInt(dst, int64(v.Len()), 10)
			dst = append(dst, ':')
			for i := range v.Len() {
				dst = append(dst, byte(v.Index(i).Uint()))
			}
			return dst, nil
		}
		dst = append(dst, 'l')
		for i := range v.Len() {
			var err error
			if dst, err = appendValue(dst, v.Index(i)); err != nil {
				return dst, err
			}
		}
		return append(dst, 'e'), nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return dst, &UnsupportedTypeError{v.Type()}
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			as, bs := a.String(), b.String()
			switch {
			case as < bs:
				return -1
			case as > bs:
				return 1
			}
			return 0
		})
		dst = append(dst, 'd')
		for _, k := range keys {
			dst = AppendString(dst, k.String())
			var err error
			if dst, err = appendValue(dst, v.MapIndex(k)); err != nil {
				return dst, fmt.Errorf("key %q: %w", k.String(), err)
			}
		}
		return append(dst, 'e'), nil
	case reflect.Struct:
		dst = append(dst, 'd')
		for _, f := range structFields(v.Type()) {
			fv := v.FieldByIndex(f.index)
			if f.omitEmpty && isEmpty(fv) {
				continue
			}
			dst = AppendString(dst, f.key)
			var err error
			if dst, err = appendValue(dst, fv); err != nil {
				return dst, fmt.Errorf("field %q: %w", f.key, err)
			}
		}
		return append(dst, 'e'), nil
	}
	return dst, &UnsupportedTypeError{v.Type()}
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String:
		return v.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.Array:
		return v.IsZero()
	}
	return v.IsZero()
}
