package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/wire/metainfo"
)

// addWebSeeded adds mi to a fresh session of ours with web seeds and optional peers.
func addWebSeeded(t *testing.T, ip string, mi *metainfo.MetaInfo, seeds []string, peers ...string) (*peer.Torrent, string) {
	t.Helper()
	sess := startSessionCfg(t, ip, peer.Config{})
	out := t.TempDir()
	tor, err := sess.AddTorrent(mi.Info, peer.TorrentOptions{DataDir: out, WebSeeds: seeds, Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	return tor, out
}

// rangeRequests counts the 206 answers in an nginx access log.
func rangeRequests(log string) int { return strings.Count(log, "\" 206 ") }

// TestWebSeedNginx: BEP 19 against a real HTTP server (nginx). We download a multi-file
// torrent from the web seed alone (no pad files, so pieces span file boundaries and need one
// range per file), through a URL that redirects, and with a libtorrent seeder beside it;
// then from a server holding a corrupted file, beside a libtorrent seeder: the bad data fails
// the hash check, the web seed is banned and dropped, and the download completes from
// libtorrent.
func TestWebSeedNginx(t *testing.T) {
	dir := t.TempDir()
	mi, torrentPath := makeTorrent(t, dir, "ws", engineFiles, 256<<10, false)
	ng := thirdparty.StartNginx(t, testutil.Addr("127.0.7.1", testutil.FreePort(t, "127.0.7.1")), dir)

	t.Run("web seed alone", func(t *testing.T) {
		before := rangeRequests(ng.AccessLog(t))
		tor, out := addWebSeeded(t, "127.0.7.2", mi, []string{ng.URL()})
		waitOurs(t, tor, 60*time.Second)
		sameContent(t, mi.Info, dir, out)
		n := rangeRequests(ng.AccessLog(t)) - before
		// 18 pieces, several spanning two files: more range requests than pieces.
		if n <= len(mi.Info.Pieces) {
			t.Errorf("%d range requests for %d pieces: ranges across file boundaries not split", n, len(mi.Info.Pieces))
		}
		t.Logf("%d range requests for %d pieces", n, len(mi.Info.Pieces))
	})

	t.Run("through a redirect", func(t *testing.T) {
		tor, out := addWebSeeded(t, "127.0.7.3", mi, []string{ng.URL() + "redir/"})
		waitOurs(t, tor, 60*time.Second)
		sameContent(t, mi.Info, dir, out)
		if !strings.Contains(ng.AccessLog(t), "\"GET /redir/ws/") || !strings.Contains(ng.AccessLog(t), "\" 302 ") {
			t.Error("nginx saw no redirected request")
		}
	})

	t.Run("web seed and libtorrent", func(t *testing.T) {
		testutil.NeedLibtorrent(t)
		lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
			Listen: testutil.Addr("127.0.7.4", testutil.FreePort(t, "127.0.7.4")), Torrent: torrentPath,
			SavePath: dir, Seed: true, TCP: true,
		})
		if err := lt.WaitSeeding(ctxFor(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		// The slow path makes the two sources share the download.
		before := rangeRequests(ng.AccessLog(t))
		tor, out := addWebSeeded(t, "127.0.7.5", mi, []string{ng.URL() + "slow/"}, lt.Addr())
		waitOurs(t, tor, 60*time.Second)
		sameContent(t, mi.Info, dir, out)
		up, ranges := lt.Status().TotalPayloadUp, rangeRequests(ng.AccessLog(t))-before
		if up == 0 || ranges == 0 {
			t.Errorf("libtorrent uploaded %d bytes and the web seed answered %d ranges: both should serve", up, ranges)
		}
		t.Logf("libtorrent uploaded %d bytes, the web seed answered %d ranges", up, ranges)
	})

	t.Run("corrupt web seed dropped", func(t *testing.T) {
		testutil.NeedLibtorrent(t)
		// A second server whose copy of sub/b.bin has 64 KiB of garbage in the middle.
		bad := t.TempDir()
		copyTree(t, filepath.Join(dir, "ws"), filepath.Join(bad, "ws"))
		f, err := os.OpenFile(filepath.Join(bad, "ws", "sub", "b.bin"), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(make([]byte, 64<<10), 1<<20); err != nil {
			t.Fatal(err)
		}
		f.Close()
		badNg := thirdparty.StartNginx(t, testutil.Addr("127.0.7.6", testutil.FreePort(t, "127.0.7.6")), bad)
		lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
			Listen: testutil.Addr("127.0.7.7", testutil.FreePort(t, "127.0.7.7")), Torrent: torrentPath,
			SavePath: dir, Seed: true, TCP: true,
		})
		if err := lt.WaitSeeding(ctxFor(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		// The web seed starts first and alone; libtorrent joins a moment later.
		tor, out := addWebSeeded(t, "127.0.7.8", mi, []string{badNg.URL()})
		deadline := time.Now().Add(30 * time.Second)
		for tor.Stats().HashFailures == 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if err := tor.AddPeers(lt.Addr()); err != nil {
			t.Fatal(err)
		}
		waitOurs(t, tor, 60*time.Second)
		sameContent(t, mi.Info, dir, out)
		st := tor.Stats()
		if st.HashFailures == 0 || st.Banned == 0 {
			t.Errorf("corrupt web seed not caught: %+v", st)
		}
		t.Logf("hash failures %d, banned %d", st.HashFailures, st.Banned)
	})
}

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
