package magnet

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func h20(s string) [20]byte {
	var h [20]byte
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		panic(err)
	}
	return h
}

func h32(s string) [32]byte {
	var h [32]byte
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		panic(err)
	}
	return h
}

const (
	hexHash = "74a323f732e746deac9e29e6e8428d78a68b92cd"
	v2Hash  = "caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		uri  string
		want Magnet
	}{
		{
			name: "hex with everything",
			uri: "magnet:?xt=urn:btih:" + hexHash + "&dn=Some%20File+Name&tr=http%3A%2F%2Ft%2Fannounce&tr=udp://u:6969" +
				"&ws=http://w/f&x.pe=127.0.0.1:6881&x.pe=[::1]:6881&so=0,2,4-6",
			want: Magnet{
				InfoHash: h20(hexHash), HasV1: true,
				DisplayName: "Some File Name",
				Trackers:    []string{"http://t/announce", "udp://u:6969"},
				WebSeeds:    []string{"http://w/f"},
				Peers:       []string{"127.0.0.1:6881", "[::1]:6881"},
				SelectOnly:  []Range{{0, 0}, {2, 2}, {4, 6}},
			},
		},
		{
			name: "uppercase hex and scheme",
			uri:  "MAGNET:?xt=URN:BTIH:" + strings.ToUpper(hexHash),
			want: Magnet{InfoHash: h20(hexHash), HasV1: true},
		},
		{
			// 74a323f7... in base32 (RFC 4648), lowercase accepted too.
			name: "base32",
			uri:  "magnet:?xt=urn:btih:osrsh5zs45dn5le6fhtoqqunpctixewn",
			want: Magnet{InfoHash: h20(hexHash), HasV1: true},
		},
		{
			name: "hybrid",
			uri:  "magnet:?xt=urn:btih:" + hexHash + "&xt=urn:btmh:1220" + v2Hash + "&dn=x",
			want: Magnet{InfoHash: h20(hexHash), HasV1: true, InfoHashV2: h32(v2Hash), HasV2: true, DisplayName: "x"},
		},
		{
			name: "v2 only",
			uri:  "magnet:?xt=urn:btmh:1220" + v2Hash,
			want: Magnet{InfoHashV2: h32(v2Hash), HasV2: true},
		},
		{
			name: "numbered params, foreign topic, unknown keys, empty pairs, semicolon",
			uri:  "magnet:?xt.1=urn:ed2k:abc&xt.2=urn:btih:" + hexHash + "&&tr.1=http://a/x;y&tr.2=http://b&kt=k&xl=10",
			want: Magnet{InfoHash: h20(hexHash), HasV1: true, Trackers: []string{"http://a/x;y", "http://b"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.uri)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
			// And it survives a round trip through String.
			again, err := Parse(got.String())
			if err != nil {
				t.Fatalf("Parse(String()): %v (%s)", err, got.String())
			}
			if diff := cmp.Diff(*got, *again); diff != "" {
				t.Errorf("round trip mismatch (-first +second):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		uri  string
		want error
	}{
		{"http://example.com/?xt=urn:btih:" + hexHash, ErrNotMagnet},
		{"magnet:xt=urn:btih:" + hexHash, ErrNotMagnet},
		{"magnet:?dn=x", ErrNoInfoHash},
		{"magnet:?xt=urn:ed2k:abc", ErrNoInfoHash},
		{"magnet:?xt=urn:btih:" + hexHash[:39], ErrBadInfoHash},
		{"magnet:?xt=urn:btih:" + hexHash[:39] + "g", ErrBadInfoHash},
		{"magnet:?xt=urn:btih:osrsh5zs45dn5le6fhtoqquNPCTIXEW1", ErrBadInfoHash},
		{"magnet:?xt=urn:btmh:1120" + v2Hash, ErrBadInfoHash},
		{"magnet:?xt=urn:btmh:1220" + v2Hash[:62], ErrBadInfoHash},
		{"magnet:?xt=urn:btih:" + hexHash + "&dn=%zz", ErrBadEscape},
		{"magnet:?xt=urn:btih:" + hexHash + "&so=1-", ErrBadSelectOnly},
		{"magnet:?xt=urn:btih:" + hexHash + "&so=5-2", ErrBadSelectOnly},
		{"magnet:?xt=urn:btih:" + hexHash + "&so=-1", ErrBadSelectOnly},
		{"magnet:?xt=urn:btih:" + hexHash + "&so=+1", ErrBadSelectOnly},
		{"magnet:?xt=urn:btih:" + hexHash + "&so=1,,2", ErrBadSelectOnly},
		{"magnet:?xt=urn:btih:" + hexHash + "&so=99999999999", ErrBadSelectOnly},
		{"magnet:?xt=urn:btih:" + hexHash + "&so=" + strings.Repeat("1,", maxSelect+1), ErrBadSelectOnly},
		{"magnet:?xt=urn:btih:" + hexHash + "&dn=" + strings.Repeat("a", MaxLength), ErrTooLong},
	}
	for _, tt := range tests {
		_, err := Parse(tt.uri)
		if !errors.Is(err, tt.want) {
			short := tt.uri
			if len(short) > 100 {
				short = short[:100] + "..."
			}
			t.Errorf("Parse(%q) error = %v, want %v", short, err, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	m := Magnet{
		InfoHash: h20(hexHash), HasV1: true,
		InfoHashV2: h32(v2Hash), HasV2: true,
		DisplayName: "a b&c",
		Trackers:    []string{"http://t/a?x=1&y=2"},
		Peers:       []string{"127.0.0.1:6881", "[::1]:6881"},
		SelectOnly:  []Range{{1, 1}, {3, 9}},
	}
	want := "magnet:?xt=urn:btih:" + hexHash + "&xt=urn:btmh:1220" + v2Hash +
		"&dn=a%20b%26c&tr=http%3A%2F%2Ft%2Fa%3Fx%3D1%26y%3D2&x.pe=127.0.0.1:6881&x.pe=[::1]:6881&so=1,3-9"
	if got := m.String(); got != want {
		t.Errorf("String() =\n %s\nwant\n %s", got, want)
	}
}

func BenchmarkParse(b *testing.B) {
	uri := "magnet:?xt=urn:btih:" + hexHash + "&dn=Some%20File&tr=http%3A%2F%2Ft%2Fannounce&tr=udp://u:6969&x.pe=127.0.0.1:6881"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(uri); err != nil {
			b.Fatal(err)
		}
	}
}
