package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/wire/metainfo"
)

// dhtSeederAndLibtorrent starts our seeder of mi (data in dir) on seederIP with its DHT node
// on and nothing to bootstrap from, and a libtorrent for torrentPath on ltIP whose DHT knows
// only that node, saving into savePath.
func dhtSeederAndLibtorrent(t *testing.T, seederIP, ltIP string, mi *metainfo.MetaInfo, torrentPath, dir, savePath string) (*peer.Session, *thirdparty.LT) {
	t.Helper()
	seeder := startSessionCfg(t, seederIP, peer.Config{DHT: peer.DHTConfig{Enabled: true}})
	addTorrent(t, seeder, mi, dir)
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen: testutil.Addr(ltIP, testutil.FreePort(t, ltIP)), Torrent: torrentPath,
		SavePath: savePath, TCP: true, DHT: thirdparty.LTDHT{Enable: true, Nodes: []string{seeder.Addr().String()}},
	})
	return seeder, lt
}

// TestDHTLibtorrentFindsFreshSeeder: the issue-15 case with libtorrent. Our seeder starts
// its DHT node with nothing to bootstrap from (an empty routing table when it first
// announces); a libtorrent leecher knows only that node. libtorrent finds the seeder through
// it and downloads within a minute, without being told to re-announce (before, our seeder was
// findable only after its next announce, five minutes later).
func TestDHTLibtorrentFindsFreshSeeder(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makeTorrent(t, dir, "dht-fresh", []thirdparty.File{{Path: "a.bin", Size: 2 << 20}}, 64<<10, false)
	out := t.TempDir()
	start := time.Now()
	_, lt := dhtSeederAndLibtorrent(t, "127.0.6.1", "127.0.6.2", mi, torrentPath, dir, out)
	if err := lt.WaitFinished(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatalf("libtorrent did not find our fresh seeder through its DHT node: %v (status %+v)", err, lt.Status())
	}
	t.Logf("libtorrent found our seeder and finished in %v (including its start-up)", time.Since(start).Round(time.Millisecond))
	lt.Stop()
	sameContent(t, mi.Info, dir, out)
}

// TestDHTSampleInfohashesLibtorrent: BEP 51. libtorrent sends sample_infohashes to our DHT
// node, which stores our seeder's torrent; libtorrent decodes the reply and finds the
// torrent's info-hash among the samples, with the count and an interval.
func TestDHTSampleInfohashesLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makeTorrent(t, dir, "dht-sample", []thirdparty.File{{Path: "a.bin", Size: 256 << 10}}, 64<<10, false)
	seeder, lt := dhtSeederAndLibtorrent(t, "127.0.6.3", "127.0.6.4", mi, torrentPath, dir, t.TempDir())
	ih := fmt.Sprintf("%x", mi.InfoHash())
	ctx := ctxFor(t, 30*time.Second)
	for {
		s, err := lt.SampleInfohashes(ctx, seeder.Addr().String(), ih)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(s.Samples, ih) {
			if s.Num < 1 || s.Interval <= 0 {
				t.Errorf("reply num %d interval %d", s.Num, s.Interval)
			}
			t.Logf("libtorrent decoded: %+v", s)
			return
		}
		// Our node records the torrent on the seeder's first DHT tick; ask again.
		time.Sleep(500 * time.Millisecond)
	}
}
