package peer

import (
	"net/netip"
	"path/filepath"

	"github.com/speedbt/btt/dht"
	"github.com/speedbt/btt/wire/tracker"
	"testing"
	"time"
)

// TestTransports: a download completes over uTP only, over TCP only, and with a leecher
// that dials uTP first against a seeder that has no uTP (it must fall back to TCP).
func TestTransports(t *testing.T) {
	tests := []struct {
		name         string
		seed, leech  Transport
		wantFallback bool
	}{
		{"utp", TransportUTP, TransportUTP, false},
		{"tcp", TransportTCP, TransportTCP, false},
		{"both", TransportBoth, TransportBoth, false},
		{"fallback", TransportTCP, TransportBoth, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mi := writeTree(t, dir, "tr", []int{3 << 20, 12345}, 64<<10, 21)
			seeder := newConfiguredSession(t, "127.0.0.1", Config{Transport: tt.seed})
			if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
				t.Fatal(err)
			}
			leecher := newConfiguredSession(t, "127.0.0.2", Config{Transport: tt.leech})
			out := t.TempDir()
			lt, err := leecher.AddTorrent(mi.Info, TorrentOptions{DataDir: out, Peers: []string{seeder.Addr().String()}})
			if err != nil {
				t.Fatal(err)
			}
			waitComplete(t, lt, 30*time.Second)
			sameTree(t, filepath.Join(dir, "tr"), filepath.Join(out, "tr"))
		})
	}
}

// TestDHTFindsPeers: a seeder and a leecher that know nothing of each other, only a DHT
// node to bootstrap from; the seeder announces, the leecher looks up and downloads.
func TestDHTFindsPeers(t *testing.T) {
	boot := newConfiguredSession(t, "127.0.0.1", Config{DHT: DHTConfig{Enabled: true}})
	dir := t.TempDir()
	mi := writeTree(t, dir, "dht", []int{1 << 20}, 64<<10, 22)
	bootAddr := boot.Addr().String()
	seeder := newConfiguredSession(t, "127.0.0.2", Config{DHT: DHTConfig{Enabled: true, Nodes: []string{bootAddr}}})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "dht.state")
	leecher := newConfiguredSession(t, "127.0.0.3", Config{DHT: DHTConfig{Enabled: true, Nodes: []string{bootAddr}, StateFile: state}})
	out := t.TempDir()
	lt, err := leecher.AddTorrent(mi.Info, TorrentOptions{DataDir: out})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 60*time.Second)
	sameTree(t, filepath.Join(dir, "dht"), filepath.Join(out, "dht"))
	leecher.Close()
	if len(readState(t, state)) == 0 {
		t.Error("DHT state file has no nodes after close")
	}
}

func readState(t *testing.T, path string) []string {
	t.Helper()
	st, err := dht.ReadStateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, n := range st.Nodes {
		nodes = append(nodes, n.Addr.String())
	}
	return nodes
}

// TestKnownAddressesPruned: dead addresses stop taking room from new peers.
func TestKnownAddressesPruned(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "prune", []int{1 << 16}, 16<<10, 23)
	sess := newConfiguredSession(t, "127.0.0.1", Config{Transport: TransportTCP})
	tor, err := sess.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	tor.t.do(func() {
		tt := tor.t
		for i := range maxKnownPeers {
			ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)}), 6881)
			tt.known[ap] = fromTracker
			tt.failures[ap] = dialFailure{n: maxDialFailures}
		}
		tt.addTrackerPeers([]tracker.Peer{{Addr: netip.MustParseAddrPort("127.0.0.9:6881")}})
		done <- len(tt.known)
	})
	if n := <-done; n != 1 {
		t.Fatalf("%d known addresses after pruning, want only the new one", n)
	}
}

// TestDHTMeetWithoutBootstrap: the issue-15 case. A seeder runs a DHT node with no node to
// bootstrap from (its routing table is empty when it announces); a leecher bootstraps from
// it. They used to meet only at the seeder's next announce, five minutes later; now the
// seeder's node answers get_peers with itself and the table's first node triggers an
// announce, so the leecher downloads well within the one-minute bound.
func TestDHTMeetWithoutBootstrap(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "dhtmeet", []int{1 << 20}, 64<<10, 23)
	seeder := newConfiguredSession(t, "127.0.0.2", Config{DHT: DHTConfig{Enabled: true}})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	leecher := newConfiguredSession(t, "127.0.0.3", Config{DHT: DHTConfig{Enabled: true, Nodes: []string{seeder.Addr().String()}}})
	out := t.TempDir()
	start := time.Now()
	lt, err := leecher.AddTorrent(mi.Info, TorrentOptions{DataDir: out})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 60*time.Second)
	sameTree(t, filepath.Join(dir, "dhtmeet"), filepath.Join(out, "dhtmeet"))
	t.Logf("met and downloaded in %v", time.Since(start).Round(time.Millisecond))
	// The seeder's node learnt the leecher (its first node) and announced to it.
	if seeder.dht.Stats().TableNodes == 0 {
		t.Error("seeder's routing table is still empty")
	}
}

func TestDHTRetry(t *testing.T) {
	for _, tt := range []struct {
		fails int
		want  time.Duration
	}{{1, 2 * time.Second}, {2, 4 * time.Second}, {5, 32 * time.Second}, {9, 5 * time.Minute}, {100, 5 * time.Minute}} {
		if got := dhtRetry(tt.fails, 5*time.Minute); got != tt.want {
			t.Errorf("dhtRetry(%d) = %v, want %v", tt.fails, got, tt.want)
		}
	}
}
