package peer

import "testing"

func TestClientName(t *testing.T) {
	id := func(s string) (b [20]byte) { copy(b[:], s); return b }
	tests := []struct {
		id   [20]byte
		want string
	}{
		{id("-LT20B0-abcdefghijkl"), "libtorrent 2.0.B.0"},
		{id("-TR3000-abcdefghijkl"), "Transmission 3.0.0.0"},
		{id(PeerIDPrefix + "abcdefghijkl"), "btt 0.1.0.0"},
		{id("-ZZ1234-abcdefghijkl"), "ZZ 1.2.3.4"},
		{id("A2-1-36-0-abcdefghij"), "aria2"},
		{id("-LT\x00\x01\x02\x03-abcdefghijkl"), ""},
		{[20]byte{}, ""},
	}
	for _, tt := range tests {
		if got := ClientName(tt.id); got != tt.want {
			t.Errorf("ClientName(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}
