package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
)

// TestSuperSeedLibtorrent: BEP 16. Two libtorrent leechers download from our super-seeding
// seeder (and from each other). tshark shows that our seeder never sent a bitfield or
// have_all, only HAVE messages, one piece at a time; both leechers complete.
func TestSuperSeedLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makeTorrent(t, dir, "super", []thirdparty.File{{Path: "a.bin", Size: 1 << 20}}, 64<<10, false)
	seeder := startSessionCfg(t, "127.0.9.1", peer.Config{Transport: peer.TransportTCP})
	if _, err := seeder.AddTorrent(mi.Info, peer.TorrentOptions{DataDir: dir, SuperSeed: true}); err != nil {
		t.Fatal(err)
	}
	port := sessionPort(seeder)
	capture := startEncCapture(t, "tcp", port)
	var lts []*thirdparty.LT
	var outs []string
	for i := range 2 {
		ip := fmt.Sprintf("127.0.9.%d", 2+i)
		out := t.TempDir()
		outs = append(outs, out)
		lts = append(lts, thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
			Listen: testutil.Addr(ip, testutil.FreePort(t, ip)), Torrent: torrentPath, SavePath: out,
			TCP: true, Peers: []string{seeder.Addr().String()},
		}))
	}
	lts[1].ConnectPeer(lts[0].Addr()) // the leechers trade with each other too
	for i, lt := range lts {
		if err := lt.WaitFinished(ctxFor(t, 90*time.Second)); err != nil {
			t.Fatalf("libtorrent %d: %v (status %+v)", i, err, lt.Status())
		}
	}
	for i, lt := range lts {
		lt.Stop()
		sameContent(t, mi.Info, dir, outs[i])
	}
	capture.plainHandshakes(1)
	from := fmt.Sprintf("tcp.srcport == %d && ", port)
	count := func(filter string) int {
		return len(capture.tsharkDecoded(port, from+filter))
	}
	if n := count("(bittorrent.msg.type == 5 || bittorrent.msg.type == 14)"); n != 0 {
		t.Errorf("super-seeder sent %d bitfield/have_all messages", n)
	}
	haves := count("bittorrent.msg.type == 4")
	if haves == 0 {
		t.Error("super-seeder sent no HAVE: the capture or the dissector missed the offers")
	}
	t.Logf("super-seeder sent %d HAVE offers for %d pieces", haves, len(mi.Info.Pieces))
}
