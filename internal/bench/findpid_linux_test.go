package bench

import (
	"net"
	"testing"
)

func TestBoundTo(t *testing.T) {
	for _, tc := range []struct {
		local, ip string
		want      bool
	}{
		{"0100007F:1B58", "127.0.0.1", true},
		{"0200007F:1B58", "127.0.0.1", false},
		{"00000000:1B58", "127.0.0.5", true},
		{"00000000000000000000000001000000:1B58", "::1", true},
	} {
		if got := boundTo(tc.local, net.ParseIP(tc.ip)); got != tc.want {
			t.Errorf("boundTo(%s, %s) = %v", tc.local, tc.ip, got)
		}
	}
}
