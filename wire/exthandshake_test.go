package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/wire/bencode"
)

func TestExtendedHandshakeVectors(t *testing.T) {
	ltM := map[string]int{"lt_donthave": 7, "share_mode": 8, "upload_only": 3, "ut_holepunch": 4, "ut_metadata": 2, "ut_pex": 1}
	trM := map[string]int{"ut_metadata": 3, "ut_pex": 1}
	lo := []byte{127, 0, 0, 1}
	tests := []struct {
		file string
		want ExtendedHandshake
	}{
		{"bt/libtorrent-2.0.8/ext-handshake-leech", ExtendedHandshake{M: ltM, V: "libtorrent/2.0.8.0", P: 53102, Reqq: 2000, YourIP: lo, MetadataSize: 1008,
			Extra: map[string]bencode.RawMessage{"complete_ago": bencode.RawMessage("i-1e")}}},
		{"bt/libtorrent-2.0.8/ext-handshake-seed", ExtendedHandshake{M: ltM, V: "libtorrent/2.0.8.0", Reqq: 2000, YourIP: lo, MetadataSize: 1008,
			Extra: map[string]bencode.RawMessage{"complete_ago": bencode.RawMessage("i-1e"), "upload_only": bencode.RawMessage("i1e")}}},
		{"bt/libtorrent-2.0.8/ext-handshake-magnet", ExtendedHandshake{M: ltM, V: "libtorrent/2.0.8.0", P: 53103, Reqq: 2000, YourIP: lo,
			Extra: map[string]bencode.RawMessage{"complete_ago": bencode.RawMessage("i-1e")}}},
		{"bt/transmission-3.00/ext-handshake-leech", ExtendedHandshake{M: trM, V: "Transmission 3.00", P: 53402, Reqq: 512, MetadataSize: 1008,
			Extra: map[string]bencode.RawMessage{"e": bencode.RawMessage("i0e"), "upload_only": bencode.RawMessage("i0e")}}},
		{"bt/transmission-3.00/ext-handshake-seed", ExtendedHandshake{M: trM, V: "Transmission 3.00", P: 53403, Reqq: 512, MetadataSize: 1008,
			Extra: map[string]bencode.RawMessage{"e": bencode.RawMessage("i0e"), "upload_only": bencode.RawMessage("i1e")}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := testutil.Vector(t, tt.file+".bin")
			dict := testutil.Vector(t, tt.file+".bencode")
			m, n, err := ParseMessage(raw, DefaultMaxMessageLen)
			if err != nil || n != len(raw) || m.Type != Extended || m.ExtID != ExtHandshakeID {
				t.Fatalf("ParseMessage = %v ext %d, n=%d, %v", m.Type, m.ExtID, n, err)
			}
			if !bytes.Equal(m.Payload, dict) {
				t.Fatalf("payload differs from %s.bencode", tt.file)
			}
			h, err := ParseExtendedHandshake(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, h); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if a, ok := h.YourAddr(); ok != (h.YourIP != nil) || ok && a != netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
				t.Errorf("YourAddr = %v, %v", a, ok)
			}
			enc := AppendExtendedHandshake(nil, h)
			if !bytes.Equal(enc, dict) {
				t.Errorf("re-encoded %q\nwant         %q", enc, dict)
			}
			if full := AppendMessage(nil, Message{Type: Extended, ExtID: ExtHandshakeID, Payload: enc}); !bytes.Equal(full, raw) {
				t.Error("re-framed message differs")
			}
			if full := append(AppendExtendedHeader(nil, ExtHandshakeID, len(enc)), enc...); !bytes.Equal(full, raw) {
				t.Error("AppendExtendedHeader framing differs")
			}
		})
	}
}

func TestExtendedHandshakeLenient(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ExtendedHandshake
	}{
		{"empty dict", "de", ExtendedHandshake{}},
		{"bad m entries dropped", "d1:md1:ai1e1:bi300e1:ci-1e1:d3:xyzee", ExtendedHandshake{M: map[string]int{"a": 1}}},
		{"m not a dict", "d1:mli1eee", ExtendedHandshake{Extra: map[string]bencode.RawMessage{"m": bencode.RawMessage("li1ee")}}},
		{"port out of range", "d1:pi70000ee", ExtendedHandshake{Extra: map[string]bencode.RawMessage{"p": bencode.RawMessage("i70000e")}}},
		{"port zero kept raw", "d1:pi0ee", ExtendedHandshake{Extra: map[string]bencode.RawMessage{"p": bencode.RawMessage("i0e")}}},
		{"v as int", "d1:vi5ee", ExtendedHandshake{Extra: map[string]bencode.RawMessage{"v": bencode.RawMessage("i5e")}}},
		{"yourip 5 bytes", "d6:yourip5:abcdee", ExtendedHandshake{Extra: map[string]bencode.RawMessage{"yourip": bencode.RawMessage("5:abcde")}}},
		{"yourip v6", "d6:yourip16:0123456789abcdefe", ExtendedHandshake{YourIP: []byte("0123456789abcdef")}},
		{"metadata too big", "d13:metadata_sizei999999999ee", ExtendedHandshake{Extra: map[string]bencode.RawMessage{"metadata_size": bencode.RawMessage("i999999999e")}}},
		{"reqq negative", "d4:reqqi-5ee", ExtendedHandshake{Extra: map[string]bencode.RawMessage{"reqq": bencode.RawMessage("i-5e")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseExtendedHandshake([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, h); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Whatever was kept re-encodes to something that decodes the same.
			h2, err := ParseExtendedHandshake(AppendExtendedHandshake(nil, h))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(h, h2); diff != "" {
				t.Errorf("round trip (-first +second):\n%s", diff)
			}
		})
	}
}

func TestExtendedHandshakeErrors(t *testing.T) {
	for _, in := range []string{"", "le", "i1e", "d1:pi1e", "d1:pi1ee junk", "dxe"} {
		if _, err := ParseExtendedHandshake([]byte(in)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%q: error %v, want ErrBadPayload", in, err)
		}
	}
}

func TestExtendedHandshakeFieldsWinOverExtra(t *testing.T) {
	h := ExtendedHandshake{P: 6881, Extra: map[string]bencode.RawMessage{"p": bencode.RawMessage("i1e"), "zz": bencode.RawMessage("0:")}}
	if got, want := string(AppendExtendedHandshake(nil, h)), "d1:pi6881e2:zz0:e"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
