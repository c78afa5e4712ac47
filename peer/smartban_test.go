package peer

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestSmartBanOnlyLiar: an honest seed and a seed whose data went bad behind its back both
// serve the same leecher at once, so they share pieces (the picker finishes partial pieces
// first). Every shared piece fails; the honest seed took part in those failures as much as
// the liar. Only the liar's address is banned, the honest seed keeps serving and the
// download completes with good data. Striking every contributor banned the honest seed.
func TestSmartBanOnlyLiar(t *testing.T) {
	goodDir, badDir := t.TempDir(), t.TempDir()
	mi := writeTree(t, goodDir, "s", []int{4 << 20}, 256<<10, 5)
	writeTree(t, badDir, "s", []int{4 << 20}, 256<<10, 5)
	good := newTestSessionAt(t, "127.0.0.2", Settings{})
	if _, err := good.AddTorrent(mi.Info, TorrentOptions{DataDir: goodDir}); err != nil {
		t.Fatal(err)
	}
	bad := newTestSessionAt(t, "127.0.0.3", Settings{})
	if _, err := bad.AddTorrent(mi.Info, TorrentOptions{DataDir: badDir}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(badDir, "s", "fa"), bytes.Repeat([]byte{0x55}, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}

	leechDir := t.TempDir()
	leecher := newTestSession(t, Settings{HashFailBan: 2})
	lt, err := leecher.AddTorrent(mi.Info, TorrentOptions{DataDir: leechDir, Peers: []string{good.Addr().String(), bad.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 60*time.Second)
	sameTree(t, filepath.Join(goodDir, "s"), filepath.Join(leechDir, "s"))
	s := lt.Stats()
	if s.HashFailures == 0 {
		t.Fatalf("the corrupt seed sent nothing: %+v", s)
	}
	if leecher.banned(mustAddr(t, good.Addr().String())) {
		t.Errorf("honest seed banned (%d hash failures)", s.HashFailures)
	}
	if !leecher.banned(mustAddr(t, bad.Addr().String())) {
		t.Errorf("corrupt seed not banned (%d hash failures)", s.HashFailures)
	}
	if s.Banned != 1 {
		t.Errorf("%d bans, want 1", s.Banned)
	}
	if s.Closed["banned"] < 1 || s.Closed["protocol"] != 0 {
		t.Errorf("closes %v: want the liar's connection closed as banned", s.Closed)
	}
}

func TestCulprits(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	var none netip.Addr
	for _, tc := range []struct {
		name string
		atts []failedAttempt
		bad  [][]int
		want []netip.Addr
	}{
		{"one liar among two", []failedAttempt{{by: []netip.Addr{a, b, a, b}}}, [][]int{{1, 3}}, []netip.Addr{b}},
		{"two attempts, one strike each", []failedAttempt{{by: []netip.Addr{a, b}}, {by: []netip.Addr{b, c}}}, [][]int{{1}, {0}}, []netip.Addr{b}},
		{"struck whole attempt skipped", []failedAttempt{{by: []netip.Addr{c, c}, struck: true}, {by: []netip.Addr{a, b}}}, [][]int{{0, 1}, {0}}, []netip.Addr{a}},
		{"unknown sender not blamed", []failedAttempt{{by: []netip.Addr{none, a}}}, [][]int{{0}}, nil},
		{"unreadable attempt blames nobody", []failedAttempt{{by: []netip.Addr{a, b}}}, [][]int{nil}, nil},
		{"aligned from the end", []failedAttempt{{by: []netip.Addr{c, c}}}, [][]int{{0}, {1}}, []netip.Addr{c}},
		{"index out of range ignored", []failedAttempt{{by: []netip.Addr{a}}}, [][]int{{5}}, nil},
		{"storage forgot more", []failedAttempt{{by: []netip.Addr{a}}, {by: []netip.Addr{b}}}, [][]int{{0}}, []netip.Addr{b}},
	} {
		if got := culprits(tc.atts, tc.bad); !slices.Equal(got, tc.want) {
			t.Errorf("%s: culprits = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSoleSender(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		by   []netip.Addr
		want netip.Addr
		ok   bool
	}{
		{[]netip.Addr{a, a, a}, a, true},
		{[]netip.Addr{a, b}, netip.Addr{}, false},
		{[]netip.Addr{{}, {}}, netip.Addr{}, false},
		{[]netip.Addr{a, {}}, netip.Addr{}, false},
		{nil, netip.Addr{}, false},
	} {
		if got, ok := soleSender(tc.by); got != tc.want || ok != tc.ok {
			t.Errorf("soleSender(%v) = %v, %v", tc.by, got, tc.ok)
		}
	}
}
