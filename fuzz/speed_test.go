package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/speedbt/btt/wire"
)

// speedSeeds are the worked examples of docs/bep-speed.md (payloads after the extended id).
var speedSeeds = []string{
	"d8:msg_typei0e5:pricei2500000ee",
	"d3:key33:\x02\xc6\x04\x7f\x94A\xed}m0E@n\x95\xc0|\xd8\\w\x8eK\x8c\xef<\xa7\xab\xac\t\xb9\\p\x9e\xe56:ledger21:http://127.0.0.1:70708:msg_typei1e5:pricei2000000ee",
	"d5:chunki2e8:msg_typei2e5:piecei7e5:pricei100000e4:salt16:\x00\x01\x02\x03\x04\x05\x06\a\b\t\n\v\f\r\x0e\x0fe",
	"d5:chunki2e8:msg_typei3e5:piecei7e5:proof32:\xf1`P\xdeB\x8arPp\xfc\xf8r4s\xb7hZ4\xff\xc5\xe3\x11\x19W\xbe\x01\f\xbd\xd0\xe9\xf1\x884:salt16:\x00\x01\x02\x03\x04\x05\x06\a\b\t\n\v\f\r\x0e\x0fe",
	"d7:channel32:\xdf\xf5\xb5-\x16\xeb\x9aNt\x97\a6\xdf} 2\xbcWA?\xd6\xc6u\x8cv\x17\xa8\x10\b\x8b\x92\xf58:msg_typei4ee",
	"d8:msg_typei5e3:sig64:\x03\xad\x80[\x18\x8e\x1ai\xe10\xe1JN{\x0e\xc2!7\x80=\xb5\x84\"U\xc8\xd2\xd44}\x1a\x9d\xe8A\xd4m\x19\xa0g\bPy.Cm\xf3\x8f\x06&@\xb0|?\x02\xa4\x85\xcce\xad\b\xdb\xc3EC\xb37:voucher68:speedbt.vouch.v1\xdf\xf5\xb5-\x16\xeb\x9aNt\x97\a6\xdf} 2\xbcWA?\xd6\xc6u\x8cv\x17\xa8\x10\b\x8b\x92\xf5\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\xe8\x00\x00\x00\ae",
	"d7:channel32:\xdf\xf5\xb5-\x16\xeb\x9aNt\x97\a6\xdf} 2\xbcWA?\xd6\xc6u\x8cv\x17\xa8\x10\b\x8b\x92\xf58:msg_typei6e3:seqi1ee",
	"d7:channel32:\xdf\xf5\xb5-\x16\xeb\x9aNt\x97\a6\xdf} 2\xbcWA?\xd6\xc6u\x8cv\x17\xa8\x10\b\x8b\x92\xf58:msg_typei7e6:reasoni5e3:seqi2ee",
	// Near misses: unknown type, unknown keys, unsorted keys, wrong sizes.
	"d8:msg_typei8ee",
	"d3:aaai1e8:msg_typei0e1:ni2e5:pricei7e1:zli1eee",
	"d5:pricei1e8:msg_typei0ee",
	"d7:channel31:0123456789012345678901234567890" + "8:msg_typei4ee",
}

// FuzzSpeedMessage: decoding never panics, every refusal is a *wire.SpeedError, and a
// decoded message re-encodes to bytes that decode to the same message and re-encode to
// themselves (the encoding is canonical).
func FuzzSpeedMessage(f *testing.F) {
	for _, s := range speedSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := wire.ParseSpeedMessage(in)
		if err != nil {
			var se *wire.SpeedError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *wire.SpeedError: %v", err, err)
			}
			return
		}
		enc, err := wire.AppendSpeedMessage(nil, m)
		if err != nil {
			t.Fatalf("decoded message does not encode: %+v: %v", m, err)
		}
		if len(enc) > wire.SpeedMaxPayload {
			t.Fatalf("re-encoding is %d bytes", len(enc))
		}
		back, err := wire.ParseSpeedMessage(enc)
		if err != nil || back != m {
			t.Fatalf("round trip: %+v -> %q -> %+v, %v", m, enc, back, err)
		}
		again, _ := wire.AppendSpeedMessage(nil, back)
		if !bytes.Equal(again, enc) {
			t.Fatalf("encoding not stable: %q then %q", enc, again)
		}
	})
}
