package utp

import (
	"net/netip"
	"testing"
	"time"
)

// An evicted connection comes back only for a packet from its address and id that acks
// our first sequence number, within HalfOpenTimeout; the table holds at most its limit.
func TestEvictedTake(t *testing.T) {
	now := time.Now()
	from := netip.MustParseAddrPort("127.0.0.9:4000")
	c := &Conn{remote: from, recvID: 7, synSeq: 100, isn: 5000}
	tests := []struct {
		name string
		key  connKey
		h    Header
		age  time.Duration
		want bool
	}{
		{"first data acks the SYN-ACK", connKey{from, 7}, Header{Type: TypeData, Ack: 4999}, 0, true},
		{"ack of our first sequence number", connKey{from, 7}, Header{Type: TypeState, Ack: 5000}, 0, true},
		{"guessed ack", connKey{from, 7}, Header{Type: TypeData, Ack: 5001}, 0, false},
		{"other id", connKey{from, 8}, Header{Type: TypeData, Ack: 4999}, 0, false},
		{"other port", connKey{netip.MustParseAddrPort("127.0.0.9:4001"), 7}, Header{Type: TypeData, Ack: 4999}, 0, false},
		{"a SYN", connKey{from, 7}, Header{Type: TypeSyn, Ack: 4999}, 0, false},
		{"a RESET", connKey{from, 7}, Header{Type: TypeReset, Ack: 4999}, 0, false},
		{"too late", connKey{from, 7}, Header{Type: TypeData, Ack: 4999}, 11 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e evicted
			e.add(c, now, 4)
			v, ok := e.take(tc.key, &tc.h, now.Add(tc.age), 10*time.Second)
			if ok != tc.want || ok && (v.synSeq != 100 || v.isn != 5000) {
				t.Fatalf("take = %+v, %v; want %v", v, ok, tc.want)
			}
			if _, again := e.take(tc.key, &tc.h, now.Add(tc.age), 10*time.Second); again {
				t.Fatal("taken twice")
			}
		})
	}

	var e evicted
	for i := range 1000 {
		e.add(&Conn{remote: from, recvID: uint16(i)}, now, 16)
	}
	if len(e.m) != 16 || len(e.order) != 16 {
		t.Fatalf("%d remembered, ring of %d; want 16", len(e.m), len(e.order))
	}
	if _, ok := e.m[connKey{from, 999}]; !ok {
		t.Fatal("the newest eviction was forgotten")
	}
}
