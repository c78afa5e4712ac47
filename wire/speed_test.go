package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/speedbt/btt/wire/bencode"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// speedExamples are the worked examples of docs/bep-speed.md, built from their fields.
// Keys: K2 = 2G (secp256k1 private key 2) is the provider, K1 = G the requester; the
// channel is K1 -> K2 on the example ledger; the voucher pays 488 units (2 BTT/GiB for a
// 256 KiB piece) for piece 7 and is signed by K1; the proof is over the reference
// torrent's info-hash 74a323f7... and the 15 bytes "speedspeedspeed".
func speedExamples(t testing.TB) map[string]SpeedMessage {
	k2 := mustHex(t, "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5")
	channel := mustHex(t, "dff5b52d16eb9a4e74970736df7d2032bc57413fd6c6758c7617a810088b92f5")
	voucher := mustHex(t, `737065656462742e766f7563682e7631 dff5b52d16eb9a4e74970736df7d2032bc57413fd6c6758c7617a810088b92f5
		0000000000000001 00000000000001e8 00000007`)
	sig := mustHex(t, `03ad805b188e1a69e130e14a4e7b0ec22137803db5842255c8d2d4347d1a9de8
		41d46d19a0670850792e436df38f062640b07c3f02a485cc65ad08dbc34543b3`)
	proof := mustHex(t, "f16050de428a725070fcf8723473b7685a34ffc5e3111957be010cbdd0e9f188")
	ex := map[string]SpeedMessage{
		"bid":            {Type: SpeedBid, Price: 2_500_000},
		"bid-response":   {Type: SpeedBidResponse, Price: 2_000_000, Ledger: "http://127.0.0.1:7070"},
		"reserve-price":  {Type: SpeedReservePrice, Price: 100_000, Piece: 7, Chunk: 2},
		"source-proof":   {Type: SpeedSourceProof, Piece: 7, Chunk: 2},
		"channel-open":   {Type: SpeedChannelOpen},
		"voucher":        {Type: SpeedVoucher},
		"payment-ack":    {Type: SpeedPaymentAck, Seq: 1},
		"payment-reject": {Type: SpeedPaymentReject, Seq: 2, Reason: SpeedRejectSequence},
	}
	set := func(name string, f func(m *SpeedMessage)) {
		m := ex[name]
		f(&m)
		ex[name] = m
	}
	set("bid-response", func(m *SpeedMessage) { copy(m.Key[:], k2) })
	set("reserve-price", func(m *SpeedMessage) { copy(m.Salt[:], seq(0, 16)) })
	set("source-proof", func(m *SpeedMessage) { copy(m.Salt[:], seq(0, 16)); copy(m.Proof[:], proof) })
	for _, n := range []string{"channel-open", "payment-ack", "payment-reject"} {
		set(n, func(m *SpeedMessage) { copy(m.Channel[:], channel) })
	}
	set("voucher", func(m *SpeedMessage) { copy(m.Voucher[:], voucher); copy(m.Sig[:], sig) })
	return ex
}

func TestSpeedRoundTrip(t *testing.T) {
	ex := speedExamples(t)
	extreme := []SpeedMessage{
		{Type: SpeedBid},
		{Type: SpeedBid, Price: SpeedMaxPrice},
		{Type: SpeedReservePrice, Price: SpeedMaxPrice, Piece: math.MaxUint32, Chunk: math.MaxUint32},
		{Type: SpeedPaymentAck, Seq: math.MaxInt64},
		{Type: SpeedPaymentReject, Reason: 255},
		func() SpeedMessage {
			m := ex["bid-response"]
			m.Key[0] = 3
			m.Ledger = strings.Repeat("~", SpeedMaxLedgerLen)
			return m
		}(),
	}
	all := extreme
	for _, m := range ex {
		all = append(all, m)
	}
	for _, m := range all {
		b, err := AppendSpeedMessage([]byte("prefix"), m)
		if err != nil {
			t.Fatalf("%v: %v", m.Type, err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("%v: dst not kept", m.Type)
		}
		b = b[len("prefix"):]
		if len(b) > SpeedMaxPayload {
			t.Errorf("%v: %d bytes exceed SpeedMaxPayload", m.Type, len(b))
		}
		got, err := ParseSpeedMessage(b)
		if err != nil || got != m {
			t.Errorf("%v: round trip gave %+v, %v", m.Type, got, err)
		}
		// The encoder's key order is bencode's canonical order.
		var d map[string]bencode.RawMessage
		if err := bencode.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		canon, err := bencode.Marshal(d)
		if err != nil || !bytes.Equal(canon, b) {
			t.Errorf("%v: not canonical:\n%s\n%s", m.Type, b, canon)
		}
	}
}

func TestSpeedParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    error
		key     string
	}{
		{"empty", "", ErrSpeedMalformed, ""},
		{"not a dict", "li0ee", ErrSpeedMalformed, ""},
		{"truncated", "d8:msg_typei0e5:pricei1e", ErrSpeedMalformed, ""},
		{"trailing data", "d8:msg_typei0e5:pricei1eexx", ErrSpeedMalformed, ""},
		{"bad integer", "d8:msg_typei0e5:pricei01ee", ErrSpeedMalformed, ""},
		{"too large", "d8:msg_typei0e5:pricei1e3:pad1100:" + strings.Repeat("x", 1100) + "e", ErrSpeedMalformed, ""},
		{"unsorted keys", "d5:pricei1e8:msg_typei0ee", ErrSpeedMalformed, ""},
		{"repeated key", "d8:msg_typei0e5:pricei1e5:pricei2ee", ErrSpeedMalformed, ""},
		{"no msg_type", "d5:pricei1ee", ErrSpeedMissingKey, "msg_type"},
		{"msg_type a string", "d8:msg_type1:0e", ErrSpeedBadValue, "msg_type"},
		{"negative msg_type", "d8:msg_typei-1ee", ErrSpeedBadValue, "msg_type"},
		{"unknown msg_type", "d8:msg_typei8ee", ErrSpeedUnknownType, ""},
		{"huge msg_type", "d8:msg_typei9223372036854775807ee", ErrSpeedUnknownType, ""},
		{"bid without price", "d8:msg_typei0ee", ErrSpeedMissingKey, "price"},
		{"negative price", "d8:msg_typei0e5:pricei-1ee", ErrSpeedBadValue, "price"},
		{"price a string", "d8:msg_typei0e5:price1:1e", ErrSpeedBadValue, "price"},
		{"price a list", "d8:msg_typei0e5:priceli1eee", ErrSpeedBadValue, "price"},
		{"bid-response short key", "d3:key2:\x02\x01" + "6:ledger1:x8:msg_typei1e5:pricei1ee", ErrSpeedBadValue, "key"},
		{"bid-response key prefix", "d3:key33:\x04" + strings.Repeat("k", 32) + "6:ledger1:x8:msg_typei1e5:pricei1ee", ErrSpeedBadValue, "key"},
		{"bid-response no ledger", "d3:key33:\x02" + strings.Repeat("k", 32) + "8:msg_typei1e5:pricei1ee", ErrSpeedMissingKey, "ledger"},
		{"bid-response empty ledger", "d3:key33:\x02" + strings.Repeat("k", 32) + "6:ledger0:8:msg_typei1e5:pricei1ee", ErrSpeedBadValue, "ledger"},
		{"bid-response ledger with space", "d3:key33:\x02" + strings.Repeat("k", 32) + "6:ledger3:a b8:msg_typei1e5:pricei1ee", ErrSpeedBadValue, "ledger"},
		{"bid-response long ledger", "d3:key33:\x02" + strings.Repeat("k", 32) + "6:ledger257:" + strings.Repeat("a", 257) + "8:msg_typei1e5:pricei1ee", ErrSpeedBadValue, "ledger"},
		{"reserve piece too big", "d5:chunki0e8:msg_typei2e5:piecei4294967296e5:pricei0e4:salt16:" + strings.Repeat("s", 16) + "e", ErrSpeedBadValue, "piece"},
		{"reserve salt short", "d5:chunki0e8:msg_typei2e5:piecei0e5:pricei0e4:salt15:" + strings.Repeat("s", 15) + "e", ErrSpeedBadValue, "salt"},
		{"reserve no chunk", "d8:msg_typei2e5:piecei0e5:pricei0e4:salt16:" + strings.Repeat("s", 16) + "e", ErrSpeedMissingKey, "chunk"},
		{"proof long", "d5:chunki0e8:msg_typei3e5:piecei0e5:proof33:" + strings.Repeat("p", 33) + "4:salt16:" + strings.Repeat("s", 16) + "e", ErrSpeedBadValue, "proof"},
		{"proof an integer", "d5:chunki0e8:msg_typei3e5:piecei0e5:proofi0e4:salt16:" + strings.Repeat("s", 16) + "e", ErrSpeedBadValue, "proof"},
		{"channel short", "d7:channel31:" + strings.Repeat("c", 31) + "8:msg_typei4ee", ErrSpeedBadValue, "channel"},
		{"voucher no sig", "d8:msg_typei5e7:voucher68:" + strings.Repeat("v", 68) + "e", ErrSpeedMissingKey, "sig"},
		{"voucher short", "d8:msg_typei5e3:sig64:" + strings.Repeat("s", 64) + "7:voucher67:" + strings.Repeat("v", 67) + "e", ErrSpeedBadValue, "voucher"},
		{"ack seq 0", "d7:channel32:" + strings.Repeat("c", 32) + "8:msg_typei6e3:seqi0ee", ErrSpeedBadValue, "seq"},
		{"reject reason 0", "d7:channel32:" + strings.Repeat("c", 32) + "8:msg_typei7e6:reasoni0e3:seqi0ee", ErrSpeedBadValue, "reason"},
		{"reject reason 256", "d7:channel32:" + strings.Repeat("c", 32) + "8:msg_typei7e6:reasoni256e3:seqi0ee", ErrSpeedBadValue, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseSpeedMessage([]byte(tt.payload))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var se *SpeedError
			if !errors.As(err, &se) {
				t.Fatalf("err %T is not a *SpeedError", err)
			}
			if se.Key != tt.key {
				t.Errorf("key = %q, want %q (%v)", se.Key, tt.key, err)
			}
			if m != (SpeedMessage{}) {
				t.Errorf("refused message returned fields: %+v", m)
			}
			if err.Error() == "" {
				t.Error("empty error text")
			}
		})
	}
}

func TestSpeedUnknownKeysIgnored(t *testing.T) {
	// A later version may add keys: they are skipped, also between known ones.
	m, err := ParseSpeedMessage([]byte("d3:aaai1e8:msg_typei0e1:ni2e5:pricei7e1:zli1eee"))
	if err != nil || m != (SpeedMessage{Type: SpeedBid, Price: 7}) {
		t.Fatalf("got %+v, %v", m, err)
	}
}

func TestSpeedAppendErrors(t *testing.T) {
	ok := speedExamples(t)["bid-response"]
	tests := []struct {
		name string
		m    SpeedMessage
		want error
	}{
		{"price above int64", SpeedMessage{Type: SpeedBid, Price: math.MaxInt64 + 1}, ErrSpeedBadValue},
		{"unknown type", SpeedMessage{Type: 8}, ErrSpeedUnknownType},
		{"zero key", SpeedMessage{Type: SpeedBidResponse, Ledger: "x"}, ErrSpeedBadValue},
		{"no ledger", func() SpeedMessage { m := ok; m.Ledger = ""; return m }(), ErrSpeedBadValue},
		{"ack seq 0", SpeedMessage{Type: SpeedPaymentAck}, ErrSpeedBadValue},
		{"seq above int64", SpeedMessage{Type: SpeedPaymentAck, Seq: math.MaxUint64}, ErrSpeedBadValue},
		{"reject reason 0", SpeedMessage{Type: SpeedPaymentReject}, ErrSpeedBadValue},
	}
	for _, tt := range tests {
		b, err := AppendSpeedMessage([]byte("x"), tt.m)
		if !errors.Is(err, tt.want) || string(b) != "x" {
			t.Errorf("%s: %q, %v; want dst unchanged and %v", tt.name, b, err, tt.want)
		}
	}
}

func TestSpeedAdvertised(t *testing.T) {
	v1 := SpeedVersionValue()
	tests := []struct {
		name    string
		m       map[string]int
		extra   map[string]bencode.RawMessage
		id, ver int
		ok      bool
	}{
		{"advertised", map[string]int{"bt_speed": 9, "ut_pex": 1}, map[string]bencode.RawMessage{"bt_speed_v": v1}, 9, 1, true},
		{"later version", map[string]int{"bt_speed": 9}, map[string]bencode.RawMessage{"bt_speed_v": []byte("i2e")}, 9, 2, true},
		{"legacy peer", map[string]int{"ut_pex": 1}, nil, 0, 0, false},
		{"disabled (id 0)", map[string]int{"bt_speed": 0}, map[string]bencode.RawMessage{"bt_speed_v": v1}, 0, 0, false},
		{"no version", map[string]int{"bt_speed": 9}, nil, 0, 0, false},
		{"version a string", map[string]int{"bt_speed": 9}, map[string]bencode.RawMessage{"bt_speed_v": []byte("1:1")}, 0, 0, false},
		{"version 0", map[string]int{"bt_speed": 9}, map[string]bencode.RawMessage{"bt_speed_v": []byte("i0e")}, 0, 0, false},
		{"broken version", map[string]int{"bt_speed": 9}, map[string]bencode.RawMessage{"bt_speed_v": []byte("i1")}, 0, 0, false},
	}
	for _, tt := range tests {
		id, ver, ok := SpeedAdvertised(tt.m, tt.extra)
		if id != tt.id || ver != tt.ver || ok != tt.ok {
			t.Errorf("%s: got %d %d %v, want %d %d %v", tt.name, id, ver, ok, tt.id, tt.ver, tt.ok)
		}
	}
	if string(v1) != "i1e" {
		t.Errorf("SpeedVersionValue = %q", v1)
	}
}

func BenchmarkSpeedMessage(b *testing.B) {
	m := speedExamples(b)["voucher"]
	buf, _ := AppendSpeedMessage(nil, m)
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 256)
		for b.Loop() {
			dst, _ = AppendSpeedMessage(dst[:0], m)
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseSpeedMessage(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
