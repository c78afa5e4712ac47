package conformance

import (
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/peer/mse"
)

// TestIPv6Libtorrent: transfers with libtorrent over [::1], TCP and uTP, both directions:
// libtorrent dials our seeder's IPv6 address, and we dial a libtorrent seeder's. The TCP
// case runs with encryption required on both sides, so MSE is covered over IPv6 too.
func TestIPv6Libtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makePaddedTorrent(t, dir, "v6", engineFiles, 256<<10)
	for _, tr := range mseTransports {
		enc, ltEnc := mse.Off, thirdparty.LTPlain
		if tr.name == "tcp" {
			enc, ltEnc = mse.Require, thirdparty.LTRequireRC4
		}
		t.Run(tr.name+"/libtorrent downloads from us", func(t *testing.T) {
			seeder := startSessionCfg(t, "[::1]", peer.Config{Transport: tr.ours, Encryption: enc})
			addTorrent(t, seeder, mi, dir)
			out := t.TempDir()
			lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
				Listen: testutil.Addr("::1", testutil.FreeUDPPort(t, "::1")), Torrent: torrentPath, SavePath: out,
				TCP: tr.name == "tcp", UTP: tr.name == "utp", SocketBuffers: 4 << 20, Encryption: ltEnc,
				Peers: []string{seeder.Addr().String()},
			})
			if err := lt.WaitFinished(ctxFor(t, 90*time.Second)); err != nil {
				t.Fatalf("libtorrent over IPv6: %v (status %+v)", err, lt.Status())
			}
			lt.Stop()
			sameContent(t, mi.Info, dir, out)
		})
		t.Run(tr.name+"/we download from libtorrent", func(t *testing.T) {
			lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
				Listen: testutil.Addr("::1", testutil.FreeUDPPort(t, "::1")), Torrent: torrentPath, SavePath: dir, Seed: true,
				TCP: tr.name == "tcp", UTP: tr.name == "utp", SocketBuffers: 4 << 20, Encryption: ltEnc,
			})
			if err := lt.WaitSeeding(ctxFor(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			leecher := startSessionCfg(t, "[::1]", peer.Config{Transport: tr.ours, Encryption: enc})
			out := t.TempDir()
			tor := addTorrent(t, leecher, mi, out, lt.Addr())
			waitOurs(t, tor, 90*time.Second)
			sameContent(t, mi.Info, dir, out)
		})
	}
}

// TestIPv6DHTLibtorrent: BEP 32. Our seeder's DHT node listens on [::1] with nothing to
// bootstrap from; libtorrent, on [::1] too and told only that node, finds the seeder through
// an IPv6 get_peers (values are IPv6 compact peers) and downloads.
func TestIPv6DHTLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makeTorrent(t, dir, "v6dht", []thirdparty.File{{Path: "a.bin", Size: 1 << 20}}, 64<<10, false)
	out := t.TempDir()
	_, lt := dhtSeederAndLibtorrent(t, "[::1]", "::1", mi, torrentPath, dir, out)
	if err := lt.WaitFinished(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatalf("libtorrent did not find our seeder through the IPv6 DHT: %v (status %+v)", err, lt.Status())
	}
	lt.Stop()
	sameContent(t, mi.Info, dir, out)
}
