package conformance

import (
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
)

// TestDHTLibtorrentFindsFreshSeeder: the issue-15 case with libtorrent. Our seeder starts
// its DHT node with nothing to bootstrap from (an empty routing table when it first
// announces); a libtorrent leecher knows only that node. libtorrent finds the seeder through
// it and downloads within a minute, without being told to re-announce (before, our seeder was
// findable only after its next announce, five minutes later).
func TestDHTLibtorrentFindsFreshSeeder(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makeTorrent(t, dir, "dht-fresh", []thirdparty.File{{Path: "a.bin", Size: 2 << 20}}, 64<<10, false)
	seeder := startSessionCfg(t, "127.0.6.1", peer.Config{DHT: peer.DHTConfig{Enabled: true}})
	addTorrent(t, seeder, mi, dir)
	out := t.TempDir()
	start := time.Now()
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen: testutil.Addr("127.0.6.2", testutil.FreePort(t, "127.0.6.2")), Torrent: torrentPath,
		SavePath: out, TCP: true, DHT: thirdparty.LTDHT{Enable: true, Nodes: []string{seeder.Addr().String()}},
	})
	if err := lt.WaitFinished(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatalf("libtorrent did not find our fresh seeder through its DHT node: %v (status %+v)", err, lt.Status())
	}
	t.Logf("libtorrent found our seeder and finished in %v (including its start-up)", time.Since(start).Round(time.Millisecond))
	lt.Stop()
	sameContent(t, mi.Info, dir, out)
}
