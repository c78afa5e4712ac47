package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
)

// TestUploadOnlyLibtorrent: BEP 21. Our seeder's extension handshake to a libtorrent
// leecher says upload_only (tshark finds it in frames from our port), and libtorrent
// downloads as usual.
func TestUploadOnlyLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makeTorrent(t, dir, "uo", []thirdparty.File{{Path: "a.bin", Size: 1 << 20}}, 64<<10, false)
	seeder := startSessionCfg(t, "127.0.8.1", peer.Config{Transport: peer.TransportTCP})
	addTorrent(t, seeder, mi, dir)
	port := sessionPort(seeder)
	capture := startEncCapture(t, "tcp", port)
	out := t.TempDir()
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen: testutil.Addr("127.0.8.2", testutil.FreePort(t, "127.0.8.2")), Torrent: torrentPath, SavePath: out,
		TCP: true, Peers: []string{seeder.Addr().String()},
	})
	if err := lt.WaitFinished(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatalf("libtorrent: %v", err)
	}
	lt.Stop()
	sameContent(t, mi.Info, dir, out)
	capture.plainHandshakes(1) // stops the capture and checks it saw the connection open
	if n := len(capture.tshark(fmt.Sprintf("tcp.srcport == %d && frame contains \"11:upload_onlyi1e\"", port), "frame.number")); n == 0 {
		t.Error("our seeder's extension handshake does not say upload_only")
	}

}
