package fuzz

import (
	"bytes"
	"testing"

	"github.com/speedbt/btt/wire/bencode"
)

func FuzzBencode(f *testing.F) {
	for _, s := range []string{"i0e", "4:spam", "l4:spami7ee", "d3:cow3:moo4:spaml1:a1:bee", "d1:bi1e1:ai2ee", "lllleeee"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v any
		if err := bencode.Unmarshal(in, &v); err != nil {
			return
		}
		enc, err := bencode.Marshal(v)
		if err != nil {
			t.Fatalf("decoded %q but cannot re-encode: %v", in, err)
		}
		var v2 any
		if err := bencode.Unmarshal(enc, &v2); err != nil {
			t.Fatalf("re-encoding %q does not decode: %v", enc, err)
		}
		enc2, err := bencode.Marshal(v2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %q vs %q (%v)", enc, enc2, err)
		}
		if len(enc) > len(in) {
			// Canonical form never grows: keys only get sorted, nothing is added.
			t.Fatalf("canonical form longer than input: %d > %d", len(enc), len(in))
		}
	})
}
