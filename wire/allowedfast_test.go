package wire

import (
	"net/netip"
	"slices"
	"testing"
)

func TestAllowedFastSetBEP6Example(t *testing.T) {
	var ih [20]byte
	for i := range ih {
		ih[i] = 0xaa
	}
	ip := netip.MustParseAddr("80.4.4.200")
	tests := []struct {
		k    int
		want []uint32
	}{
		{7, []uint32{1059, 431, 808, 1217, 287, 376, 1188}},
		{9, []uint32{1059, 431, 808, 1217, 287, 376, 1188, 353, 508}},
	}
	for _, tt := range tests {
		if got := AllowedFastSet(ip, ih, 1313, tt.k); !slices.Equal(got, tt.want) {
			t.Errorf("k=%d: %v, want %v", tt.k, got, tt.want)
		}
	}
	// The /24 mask: another host of the same subnet, and the v4-mapped form, get the same set.
	want := AllowedFastSet(ip, ih, 1313, 7)
	for _, other := range []string{"80.4.4.1", "::ffff:80.4.4.200"} {
		if got := AllowedFastSet(netip.MustParseAddr(other), ih, 1313, 7); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", other, got, want)
		}
	}
	if got := AllowedFastSet(netip.MustParseAddr("80.4.5.200"), ih, 1313, 7); slices.Equal(got, want) {
		t.Error("another /24 gave the same set")
	}
}

func TestAllowedFastSetEdges(t *testing.T) {
	ip := netip.MustParseAddr("10.1.2.3")
	ih := [20]byte{1, 2, 3}
	for _, tt := range []struct{ numPieces, k, wantLen int }{
		{0, 10, 0}, {1, 10, 1}, {3, 10, 3}, {5, 0, 0}, {5, -1, 0}, {1000, 10, 10},
		{300, 300, MaxAllowedFast}, {1 << 30, 1 << 30, MaxAllowedFast},
	} {
		got := AllowedFastSet(ip, ih, tt.numPieces, tt.k)
		if len(got) != tt.wantLen {
			t.Errorf("numPieces=%d k=%d: %v", tt.numPieces, tt.k, got)
		}
		seen := map[uint32]bool{}
		for _, p := range got {
			if int(p) >= tt.numPieces || seen[p] {
				t.Errorf("numPieces=%d k=%d: bad or repeated piece %d in %v", tt.numPieces, tt.k, p, got)
			}
			seen[p] = true
		}
	}
	if got := AllowedFastSet(netip.Addr{}, ih, 10, 3); got != nil {
		t.Errorf("invalid address: %v", got)
	}
	a := AllowedFastSet(netip.MustParseAddr("2001:db8:1:2::1"), ih, 1000, 10)
	b := AllowedFastSet(netip.MustParseAddr("2001:db8:1:2:ffff::9"), ih, 1000, 10)
	c := AllowedFastSet(netip.MustParseAddr("2001:db8:1:3::1"), ih, 1000, 10)
	if len(a) != 10 || !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Errorf("IPv6 /64 masking: %v %v %v", a, b, c)
	}
}
