package bench

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speedbt/btt/peer"
)

// TestConnectOurSeeder runs the connection tester against one of our sessions in this
// process (over TCP and over uTP, from distinct 127.0.0.x addresses), with hash checks on:
// every downloader connects and gets data, every completed piece verifies, progress is
// reported, and the result's per-peer figures add up. The cross-process runs against our
// `btt seed` and libtorrent are conformance.TestBenchConnect.
func TestConnectOurSeeder(t *testing.T) {
	dir := t.TempDir()
	p, err := MakePayload(context.Background(), dir, "c.bin", 3<<20+777, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		utp  bool
		tr   peer.Transport
	}{{"tcp", false, peer.TransportTCP}, {"utp", true, peer.TransportUTP}} {
		t.Run(tc.name, func(t *testing.T) {
			sess, err := peer.NewSession(peer.Config{Listen: "127.0.0.1:0", Transport: tc.tr,
				Settings: peer.Settings{UploadSlots: 8}})
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			tor, err := sess.AddTorrent(p.Info, peer.TorrentOptions{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if !tor.Stats().Complete {
				t.Fatal("seeder does not have the data")
			}
			var progress atomic.Int32
			const peers = 3
			r, err := Connect(context.Background(), ConnectConfig{
				Info: p.Info, Addr: sess.Addr().String(), Peers: peers, Duration: 1500 * time.Millisecond,
				Verify: true, UTP: tc.utp, SourceIP: func(i int) string { return "127.0.0." + strconv.Itoa(2+i) },
				Progress: func(Progress) { progress.Add(1) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Connected != peers || r.Bytes == 0 || r.Verified == 0 || r.HashFails != 0 {
				t.Fatalf("connected %d, %d bytes, %d verified, %d failed", r.Connected, r.Bytes, r.Verified, r.HashFails)
			}
			var sum int64
			for _, pr := range r.PerPeer {
				sum += pr.Bytes
				if pr.Err != "" {
					t.Errorf("%s: %s", pr.Local, pr.Err)
				}
			}
			if sum != r.Bytes || r.Jain <= 0 || r.Jain > 1 || r.P99ms < r.P50ms {
				t.Errorf("inconsistent result %+v", r)
			}
			if progress.Load() == 0 {
				t.Error("no progress reported in 1.5 s")
			}
		})
	}
}

// TestConnectNobodyListening: a run against an address nobody serves fails with the
// downloaders' errors, within the dial timeout.
func TestConnectNobodyListening(t *testing.T) {
	p, err := MakePayload(context.Background(), t.TempDir(), "n.bin", 100_000, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Connect(context.Background(), ConnectConfig{Info: p.Info, Addr: "127.0.0.1:1", Peers: 2, Duration: time.Second})
	if err == nil {
		t.Fatal("no error with nobody listening")
	}
	if el := time.Since(start); el > dialTimeout+5*time.Second {
		t.Errorf("took %v", el)
	}
}
