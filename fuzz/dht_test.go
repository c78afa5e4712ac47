package fuzz

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/dht"
	"github.com/speedbt/btt/dht/krpc"
	"github.com/speedbt/btt/dht/sim"
	"github.com/speedbt/btt/internal/testutil"
)

// dhtSeeds adds every KRPC vector captured from libtorrent and the BEP 5 examples.
func dhtSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(testutil.SharedDir(f), "vectors", "dht", "*", "*.bin"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
		"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
		"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
		"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
		"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
		"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
		"d1:rd2:id20:abcdefghij01234567896:nodes638:abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij01234567892:ro1:xe1:t0:1:y1:re",
	} {
		f.Add([]byte(s))
	}
}

var addrCmp = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

// FuzzDHTKRPC: decoding never panics, and whatever decodes re-encodes to bytes that
// decode to the same message and re-encode identically.
func FuzzDHTKRPC(f *testing.F) {
	dhtSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := krpc.Decode(in)
		if err != nil {
			return
		}
		enc, err := m.Marshal()
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		m2, err := krpc.Decode(enc)
		if err != nil {
			t.Fatalf("re-encoding %q does not decode: %v", enc, err)
		}
		if diff := cmp.Diff(m, m2, addrCmp); diff != "" {
			t.Fatalf("round trip differs (-first +second):\n%s", diff)
		}
		enc2, _ := m2.Marshal()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %q vs %q", enc, enc2)
		}
	})
}

// FuzzDHTNode hands arbitrary packets to a node: it never panics, and nothing it sends
// back is larger than its MaxResponseFactor (8) times the packet.
func FuzzDHTNode(f *testing.F) {
	dhtSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		var out [][]byte
		n, err := dht.New(dht.Config{
			Clock: sim.NewClock(time.Unix(1e9, 0)),
			Rand:  rand.NewChaCha8([32]byte{}),
			Send:  func(b []byte, _ netip.AddrPort) error { out = append(out, append([]byte(nil), b...)); return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		from := netip.MustParseAddrPort("1.2.3.4:5")
		n.HandlePacket(in, from)
		n.HandlePacket(in, from)
		for _, b := range out {
			m, err := krpc.Decode(b)
			if err != nil {
				t.Fatalf("node sent undecodable %q: %v", b, err)
			}
			if m.Y != krpc.TypeQuery && len(b) > 8*len(in) {
				t.Fatalf("%d-byte reply to a %d-byte packet", len(b), len(in))
			}
		}
	})
}

// FuzzDHTState: a saved routing table that decodes re-encodes to the same state.
func FuzzDHTState(f *testing.F) {
	st := dht.State{ID: dht.ID{1}, Nodes: []dht.NodeInfo{{ID: dht.ID{2}, Addr: netip.MustParseAddrPort("1.2.3.4:5")}, {ID: dht.ID{3}, Addr: netip.MustParseAddrPort("[::1]:6")}}}
	b, _ := st.MarshalBinary()
	f.Add(b)
	f.Add([]byte("d2:id20:abcdefghij01234567895:nodes0:6:nodes60:e"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var s dht.State
		if s.UnmarshalBinary(in) != nil {
			return
		}
		enc, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var s2 dht.State
		if err := s2.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, s2, addrCmp, cmp.Comparer(func(a, b []dht.NodeInfo) bool {
			if len(a) != len(b) {
				return false
			}
			for i := range a {
				if a[i] != b[i] {
					return false
				}
			}
			return true
		})); diff != "" {
			t.Fatal(diff)
		}
	})
}
