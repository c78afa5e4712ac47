package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/testutil"
)

var addrCmp = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

func TestPEXVectors(t *testing.T) {
	tests := []struct {
		file  string
		extID uint8
		want  PEX
	}{
		{"bt/libtorrent-2.0.8/ext-ut_pex", 1, PEX{
			Added:    []PEXPeer{{netip.MustParseAddrPort("127.0.0.1:53101"), 0x0a}},
			Added6:   []PEXPeer{},
			Dropped:  []netip.AddrPort{},
			Dropped6: []netip.AddrPort{},
		}},
		{"bt/transmission-3.00/ext-ut_pex", 1, PEX{
			Added: []PEXPeer{{netip.MustParseAddrPort("127.0.0.1:53401"), 0}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := testutil.Vector(t, tt.file+".bin")
			dict := testutil.Vector(t, tt.file+".bencode")
			m, _, err := ParseMessage(raw, DefaultMaxMessageLen)
			if err != nil || m.Type != Extended || m.ExtID != tt.extID || !bytes.Equal(m.Payload, dict) {
				t.Fatalf("ParseMessage = %v ext %d, %v", m.Type, m.ExtID, err)
			}
			p, err := ParsePEX(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p, addrCmp); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if enc := AppendPEX(nil, p); !bytes.Equal(enc, dict) {
				t.Errorf("re-encoded %q\nwant         %q", enc, dict)
			}
		})
	}
}

func TestPEXRoundTripAndLimits(t *testing.T) {
	var many []PEXPeer
	var many6 []netip.AddrPort
	for i := range 70 {
		many = append(many, PEXPeer{netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), uint16(6881+i)), byte(i)})
		many6 = append(many6, netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 15: byte(i)}), 1))
	}
	p := PEX{Added: many, Dropped6: many6, Added6: []PEXPeer{{netip.MustParseAddrPort("[::ffff:1.2.3.4]:80"), PEXSeed | PEXUTP}}}
	got, err := ParsePEX(AppendPEX(nil, p))
	if err != nil {
		t.Fatal(err)
	}
	want := PEX{Added: many[:MaxPEXPeers], Dropped6: many6[:MaxPEXPeers], Added6: p.Added6}
	if diff := cmp.Diff(want, got, addrCmp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// A hand-made message with 60 dropped peers decodes to the first 50.
	var b strings.Builder
	b.WriteString("d7:dropped360:")
	for i := range 60 {
		b.Write([]byte{1, 2, 3, byte(i), 0, 80})
	}
	b.WriteString("e")
	got, err = ParsePEX([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Dropped) != MaxPEXPeers || got.Dropped[49] != netip.MustParseAddrPort("1.2.3.49:80") {
		t.Errorf("dropped: %d entries", len(got.Dropped))
	}

	// Flags shorter than the peers: missing flags are zero. Wrong-family addresses.
	got, err = ParsePEX([]byte("d5:added12:\x01\x02\x03\x04\x00\x01\x05\x06\x07\x08\x00\x027:added.f1:\x02e"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Added) != 2 || got.Added[0].Flags != PEXSeed || got.Added[1].Flags != 0 {
		t.Errorf("added %+v", got.Added)
	}
	enc := AppendPEX(nil, PEX{Added: []PEXPeer{{Addr: netip.MustParseAddrPort("[::1]:5")}}, Dropped6: []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:5")}})
	if want := "d5:added6:\x00\x00\x00\x00\x00\x057:added.f1:\x008:dropped618:" + strings.Repeat("\x00", 16) + "\x00\x05e"; string(enc) != want {
		t.Errorf("wrong-family encoding %q", enc)
	}
}

func TestPEXErrors(t *testing.T) {
	for _, in := range []string{
		"", "le", "d5:added5:abcdee", "d6:added617:" + strings.Repeat("x", 17) + "e", "d7:droppedi1ee", "d5:added6:abcdefe junk",
	} {
		if _, err := ParsePEX([]byte(in)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%q: %v, want ErrBadPayload", in, err)
		}
	}
}
