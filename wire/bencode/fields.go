package bencode

import (
	"reflect"
	"slices"
	"strings"
)

// field is one struct field as bencode sees it.
type field struct {
	key       string
	index     []int
	omitEmpty bool
}

// fieldList is a struct's fields sorted by key, the order encoding needs.
type fieldList []field

func (l fieldList) byKey(k string) (field, bool) {
	i, ok := slices.BinarySearchFunc(l, k, func(f field, k string) int { return strings.Compare(f.key, k) })
	if !ok {
		return field{}, false
	}
	return l[i], true
}

// structFields lists the exported fields of t by their bencode keys. It is recomputed per call
// rather than cached in a package-level map: the structs bencoded here are small, and the
// package keeps no mutable state.
func structFields(t reflect.Type) fieldList {
	var out fieldList
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("bencode")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		out = append(out, field{key: name, index: sf.Index, omitEmpty: opts == "omitempty"})
	}
	slices.SortFunc(out, func(a, b field) int { return strings.Compare(a.key, b.key) })
	return out
}
