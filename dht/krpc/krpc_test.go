package krpc

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/testutil"
)

// TestVectorsRoundTrip decodes every KRPC message libtorrent sent in the reference capture
// and re-encodes it byte for byte.
func TestVectorsRoundTrip(t *testing.T) {
	dir := filepath.Join(testutil.SharedDir(t), "vectors", "dht", "libtorrent-2.0.8")
	files, err := filepath.Glob(filepath.Join(dir, "*.bin"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors in %s: %v", dir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			out, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, b) {
				t.Fatalf("re-encode differs:\n got %q\nwant %q", out, b)
			}
			if m.Y == TypeResponse && !strings.Contains(f, "get-") && !strings.Contains(f, "put-") && !m.IP.IsValid() {
				t.Errorf("libtorrent response without BEP 42 ip key decoded")
			}
		})
	}
}

func TestVectorFields(t *testing.T) {
	m, err := Decode(testutil.Vector(t, "dht/libtorrent-2.0.8/get_peers-response-values.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Y != TypeResponse || len(m.R.Values) != 1 || m.R.Values[0] != netip.MustParseAddrPort("127.0.0.1:53303") {
		t.Fatalf("values = %v", m.R.Values)
	}
	if len(m.R.Nodes) != 2 || m.R.Nodes[0].Addr != netip.MustParseAddrPort("127.0.0.1:53303") {
		t.Fatalf("nodes = %v", m.R.Nodes)
	}
	if m.IP != netip.MustParseAddrPort("127.0.0.1:53303") {
		t.Fatalf("ip = %v", m.IP)
	}
	if len(m.R.Token) != 4 {
		t.Fatalf("token = %x", m.R.Token)
	}

	a, err := Decode(testutil.Vector(t, "dht/libtorrent-2.0.8/announce_peer-query.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Q != MethodAnnouncePeer || a.A.Port != 53303 || a.A.InfoHash.String() != "74a323f732e746deac9e29e6e8428d78a68b92cd" {
		t.Fatalf("announce = %+v", a.A)
	}
	if string(a.A.Extra["seed"]) != "i0e" {
		t.Fatalf("seed kept as %q", a.A.Extra["seed"])
	}

	e, err := Decode(testutil.Vector(t, "dht/libtorrent-2.0.8/get_peers-response-nodes.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if e.R.Nodes == nil || len(e.R.Nodes) != 0 {
		t.Fatalf("empty nodes string must decode as present and empty, got %#v", e.R.Nodes)
	}
}

// TestBEP5Examples encodes the example messages of BEP 5 and checks the exact bytes.
func TestBEP5Examples(t *testing.T) {
	id := ID([]byte("abcdefghij0123456789"))
	mn := ID([]byte("mnopqrstuvwxyz123456"))
	tests := []struct {
		name string
		m    Msg
		want string
	}{
		{"ping", Msg{T: []byte("aa"), Y: "q", Q: "ping", A: &Args{ID: id}},
			"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"},
		{"ping reply", Msg{T: []byte("aa"), Y: "r", R: &Return{ID: mn}},
			"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"},
		{"error", Msg{T: []byte("aa"), Y: "e", E: &Error{Code: 201, Message: "A Generic Error Ocurred"}},
			"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee"},
		{"find_node", Msg{T: []byte("aa"), Y: "q", Q: "find_node", A: &Args{ID: id, Target: mn}},
			"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe"},
		{"get_peers", Msg{T: []byte("aa"), Y: "q", Q: "get_peers", A: &Args{ID: id, InfoHash: mn}},
			"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe"},
		{"get_peers values", Msg{T: []byte("aa"), Y: "r", R: &Return{ID: id, Token: []byte("aoeusnth"),
			Values: []netip.AddrPort{netip.MustParseAddrPort("97.120.106.101:11893"), netip.MustParseAddrPort("105.100.104.116:28269")}}},
			"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re"},
		{"announce_peer", Msg{T: []byte("aa"), Y: "q", Q: "announce_peer", A: &Args{ID: id, ImpliedPort: true, InfoHash: mn, Port: 6881, Token: []byte("aoeusnth")}},
			"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe"},
	}
	for _, tt := range tests {
		got, err := tt.m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
		back, err := Decode(got)
		if err != nil {
			t.Fatalf("%s: decode: %v", tt.name, err)
		}
		if diff := cmp.Diff(&tt.m, back, addrCmp); diff != "" {
			t.Errorf("%s: round trip (-want +got):\n%s", tt.name, diff)
		}
	}
}

var addrCmp = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

func TestExtraMerge(t *testing.T) {
	m := Msg{T: []byte("x"), Y: "r", R: &Return{ID: ID{1}, Extra: map[string][]byte{"p": []byte("i5e"), "a": []byte("0:"), "zz": []byte("le")}},
		Extra: map[string][]byte{"b": []byte("i1e"), "s": []byte("i2e")}}
	got, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Marshal()
	if !bytes.Equal(got, again) {
		t.Fatalf("not stable: %q vs %q", got, again)
	}
	if !strings.HasPrefix(string(got), "d1:bi1e1:rd1:a0:2:id") || !strings.Contains(string(got), "1:pi5e2:zzlee1:si2e1:t") {
		t.Fatalf("keys not sorted: %q", got)
	}
	m.Extra["x"] = []byte("i1") // invalid bencode
	if _, err := m.Marshal(); err == nil {
		t.Fatal("invalid extra value encoded")
	}
}

func TestDecodeErrors(t *testing.T) {
	bad := []struct {
		in      string
		wantTID string
	}{
		{"", ""},
		{"le", ""},
		{"i1e", ""},
		{"d1:y1:qe", ""},                   // no t
		{"d1:t2:aa1:y1:qe", "aa"},          // query without q/a
		{"d1:q4:ping1:t2:aa1:y1:qe", "aa"}, // no a
		{"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe", "aa"},                   // short id
		{"d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe", "aa"},                     // id not a string
		{"d1:ad4:porti70000ee1:q1:x1:t2:aa1:y1:qe", "aa"},                  // port out of range
		{"d1:rd5:nodes3:abce1:t2:aa1:y1:re", "aa"},                         // nodes not a multiple of 26
		{"d1:rd6:valuesl3:abcee1:t2:aa1:y1:re", "aa"},                      // bad compact value
		{"d1:eli201ee1:t2:aa1:y1:ee", "aa"},                                // error list too short
		{"d1:eli201e1:ai3ee1:t2:aa1:y1:ee", "aa"},                          // too long
		{"d1:t2:aa1:y1:ze", "aa"},                                          // unknown y
		{"d2:ip3:abc1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:re", "aa"}, // bad ip
		{"d1:t2:aa1:t2:bb1:y1:re", ""},                                     // duplicate key
	}
	for _, tt := range bad {
		_, err := Decode([]byte(tt.in))
		var me *MalformedError
		if !errors.As(err, &me) {
			t.Errorf("Decode(%q) = %v, want *MalformedError", tt.in, err)
			continue
		}
		if string(me.T) != tt.wantTID && tt.wantTID != "" {
			t.Errorf("Decode(%q): T = %q, want %q", tt.in, me.T, tt.wantTID)
		}
	}
	if _, err := Decode(bytes.Repeat([]byte("x"), MaxMessageLen+1)); err == nil {
		t.Error("oversized message accepted")
	}
}

func TestBEP32Nodes6(t *testing.T) {
	n := []NodeInfo{{ID: ID{1}, Addr: netip.MustParseAddrPort("[2001:db8::1]:6881")}, {ID: ID{2}, Addr: netip.MustParseAddrPort("10.0.0.1:1")}}
	m := Msg{T: []byte("t"), Y: "r", R: &Return{ID: ID{3}, Nodes: n, Nodes6: n}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.R.Nodes) != 1 || back.R.Nodes[0] != n[1] || len(back.R.Nodes6) != 1 || back.R.Nodes6[0] != n[0] {
		t.Fatalf("nodes %v nodes6 %v", back.R.Nodes, back.R.Nodes6)
	}
}

func TestIDOps(t *testing.T) {
	a := ID{0x80}
	b := ID{0x40}
	if a.CommonPrefixLen(b) != 0 || a.CommonPrefixLen(a) != 160 || (ID{0x01}).CommonPrefixLen(ID{}) != 7 {
		t.Fatal("CommonPrefixLen")
	}
	var zero ID
	if !zero.Closer(b, a) || zero.Closer(a, b) || zero.Closer(a, a) {
		t.Fatal("Closer")
	}
	s := a.Xor(b).String()
	if s != "c0"+strings.Repeat("0", 38) {
		t.Fatal(s)
	}
	if p, err := ParseID(s); err != nil || p != a.Xor(b) {
		t.Fatal(p, err)
	}
	if _, err := ParseID("zz"); err == nil {
		t.Fatal("bad hex accepted")
	}
}

func BenchmarkDecodeGetPeersResponse(b *testing.B) {
	v := testutil.Vector(b, "dht/libtorrent-2.0.8/get_peers-response-values.bin")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeFindNodeResponse(b *testing.B) {
	nodes := make([]NodeInfo, 8)
	for i := range nodes {
		nodes[i] = NodeInfo{ID: ID{byte(i)}, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 6881)}
	}
	m := Msg{T: []byte("ab"), Y: "r", R: &Return{ID: ID{9}, Nodes: nodes}, IP: netip.MustParseAddrPort("1.2.3.4:5")}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = m.Append(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
