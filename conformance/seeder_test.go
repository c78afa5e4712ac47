package conformance

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
)

// TestLeanSeederServesFolder: btt-seeder serves every .torrent in a folder whose data sits
// beside it; libtorrent downloads one torrent and our client the other from the same seeder.
func TestLeanSeederServesFolder(t *testing.T) {
	testutil.NeedLibtorrent(t)
	bin := testutil.BuildCmd(t, "btt-seeder")
	dir := t.TempDir()
	miA, torrentA := makeTorrent(t, dir, "albumA", []thirdparty.File{{Path: "a.bin", Size: 3<<20 + 5}, {Path: "b.txt", Size: 777}}, 64<<10, true)
	miB, _ := makeTorrent(t, dir, "albumB", []thirdparty.File{{Path: "c.bin", Size: 2 << 20}}, 64<<10, false)
	addr := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
	logPath := startBackground(t, exec.Command(bin, "--dir", dir, "--listen", addr))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out := readFile(t, logPath); strings.Count(out, "serving ") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("btt-seeder did not serve both torrents:\n%s", readFile(t, logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := t.TempDir()
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen: testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")), Torrent: torrentA,
		SavePath: out, TCP: true, Peers: []string{addr},
	})
	leecher := startSessionCfg(t, "127.0.0.3", peer.Config{})
	outB := t.TempDir()
	tb := addTorrent(t, leecher, miB, outB, addr)
	if err := lt.WaitFinished(ctxFor(t, time.Minute)); err != nil {
		t.Fatalf("libtorrent from btt-seeder: %v", err)
	}
	lt.Stop()
	waitOurs(t, tb, time.Minute)
	sameContent(t, miA.Info, dir, out)
	sameContent(t, miB.Info, dir, outB)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
