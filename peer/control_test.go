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

// TestSetUploadRateLimit: the limit set on a running session reaches the send scheduler's
// bucket, and 0 lifts it.
func TestSetUploadRateLimit(t *testing.T) {
	s, err := NewSession(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rate := func() float64 {
		s.sched.mu.Lock()
		defer s.sched.mu.Unlock()
		return s.sched.q.rate
	}
	if r := rate(); r != 0 {
		t.Fatalf("a session without a limit has rate %v", r)
	}
	s.SetUploadRateLimit(3_000_000)
	if r := rate(); r != 3_000_000 {
		t.Errorf("after SetUploadRateLimit(3e6): rate %v", r)
	}
	s.SetUploadRateLimit(0)
	if r := rate(); r != 0 {
		t.Errorf("after SetUploadRateLimit(0): rate %v", r)
	}
}
