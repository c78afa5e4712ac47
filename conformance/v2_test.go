package conformance

import (
	"bytes"
	"fmt"
	"github.com/speedbt/btt/wire/magnet"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/wire/metainfo"
)

// v2Files are in v2 tree order (libtorrent sorts a v2 tree anyway), of sizes around the
// 64 KiB piece: smaller than a block, than a piece, exactly one piece, one byte over,
// several pieces with a short tail, and exactly several pieces.
var v2Files = []thirdparty.File{
	{Path: "a.bin", Size: 300_001},
	{Path: "b.txt", Size: 5},
	{Path: "c/one-piece", Size: 64 << 10},
	{Path: "c/over", Size: 64<<10 + 1},
	{Path: "c/small", Size: 40_000},
	{Path: "d.bin", Size: 4 * 64 << 10},
	{Path: "e", Size: 16<<10 + 3},
}

// v2Torrent writes v2Files and has libtorrent make a torrent of them: v2-only, or hybrid
// (libtorrent's default, with pad files). It returns the parsed torrent, its path and the
// directory that holds the content (the torrent's name is a directory inside it).
func v2Torrent(t *testing.T, hybrid bool) (*metainfo.MetaInfo, string, string) {
	t.Helper()
	testutil.NeedLibtorrent(t)
	root := thirdparty.WriteFiles(t, filepath.Join(t.TempDir(), "v2content"), v2Files)
	var flags []string
	if !hybrid {
		flags = []string{"v2_only"}
	}
	path, _ := ltCreate(t, root, v2Files, true, 64<<10, flags...)
	mi, err := metainfo.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mi.InfoHashV2(); !ok || mi.Info.HasV1() != hybrid {
		t.Fatalf("libtorrent made the wrong kind of torrent (v1 side %v)", mi.Info.HasV1())
	}
	if len(mi.PieceLayers) == 0 {
		t.Fatal("torrent carries no piece layers")
	}
	return mi, path, filepath.Dir(root)
}

// ltSeedsV2 makes v2Torrent's torrent and has libtorrent seed it over TCP on 127.0.0.2,
// ready to serve when it returns.
func ltSeedsV2(t *testing.T, hybrid bool) (*metainfo.MetaInfo, string, string, *thirdparty.LT) {
	t.Helper()
	mi, path, dir := v2Torrent(t, hybrid)
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:   testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent:  path,
		SavePath: dir,
		Seed:     true,
		TCP:      true,
	})
	if err := lt.WaitSeeding(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	return mi, path, dir, lt
}

func addV2(t *testing.T, sess *peer.Session, mi *metainfo.MetaInfo, dir string, peers ...string) *peer.Torrent {
	t.Helper()
	tor, err := sess.AddTorrent(mi.Info, peer.TorrentOptions{DataDir: dir, Peers: peers, PieceLayers: mi.PieceLayers})
	if err != nil {
		t.Fatal(err)
	}
	return tor
}

// TestV2LibtorrentSeedsToUs: libtorrent 2.0.8 seeds a v2-only and a hybrid torrent; we
// download every file and verify every piece by its merkle tree (and SHA-1 too, hybrid).
func TestV2LibtorrentSeedsToUs(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		t.Run(map[bool]string{false: "v2-only", true: "hybrid"}[hybrid], func(t *testing.T) {
			mi, _, dir, lt := ltSeedsV2(t, hybrid)
			leecher := startSession(t, "127.0.0.1", peer.Settings{})
			out := t.TempDir()
			tor := addV2(t, leecher, mi, out, lt.Addr())
			waitOurs(t, tor, 60*time.Second)
			sameContent(t, mi.Info, dir, out)
			if st := tor.Stats(); st.HashFailures != 0 {
				t.Errorf("%d hash failures", st.HashFailures)
			}
		})
	}
}

// TestV2OurSeederToLibtorrent: libtorrent 2.0.8 downloads a v2-only and a hybrid torrent
// from our seeder, verifying every piece itself.
func TestV2OurSeederToLibtorrent(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		t.Run(map[bool]string{false: "v2-only", true: "hybrid"}[hybrid], func(t *testing.T) {
			mi, path, dir := v2Torrent(t, hybrid)
			seeder := startSession(t, "127.0.0.1", peer.Settings{})
			tor := addV2(t, seeder, mi, dir)
			if st := tor.Stats(); st.PiecesDone != st.Pieces {
				t.Fatalf("our seeder verified %d of %d pieces on disk", st.PiecesDone, st.Pieces)
			}
			out := t.TempDir()
			lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
				Listen:   testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
				Torrent:  path,
				SavePath: out,
				TCP:      true,
				Peers:    []string{seeder.Addr().String()},
			})
			if err := lt.WaitFinished(ctxFor(t, 60*time.Second)); err != nil {
				t.Fatalf("libtorrent: %v (status %+v)", err, lt.Status())
			}
			lt.Stop()
			sameContent(t, mi.Info, dir, out)
		})
	}
}

// TestV2LibtorrentMagnetFromUs: libtorrent joins by a v2 magnet link (btmh only), so it has
// no piece layers: it fetches the info dictionary from our seeder (ut_metadata) and then
// every piece layer by hash requests, which we answer, before it can verify a piece.
func TestV2LibtorrentMagnetFromUs(t *testing.T) {
	mi, _, dir := v2Torrent(t, false)
	seeder := startSession(t, "127.0.0.1", peer.Settings{})
	tor := addV2(t, seeder, mi, dir)
	h2, _ := mi.InfoHashV2()
	out := t.TempDir()
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:   testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Magnet:   fmt.Sprintf("magnet:?xt=urn:btmh:1220%x&dn=v2content", h2),
		SavePath: out,
		TCP:      true,
		Peers:    []string{seeder.Addr().String()},
	})
	if err := lt.WaitFinished(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatalf("libtorrent: %v (status %+v)", err, lt.Status())
	}
	lt.Stop()
	sameContent(t, mi.Info, dir, out)
	// Every file longer than a piece needed its layer from us.
	long := 0
	for _, f := range mi.Info.Files {
		if f.Length > mi.Info.PieceLength {
			long++
		}
	}
	if got := tor.Stats().HashesServed; got < long {
		t.Errorf("answered %d hash requests; libtorrent needed the piece layers of %d files", got, long)
	}
	t.Logf("answered %d hash requests", tor.Stats().HashesServed)
}

// TestCreateV2MatchesLibtorrent: `btt create --v2` writes the same info dictionary as
// libtorrent 2.0's create_torrent with v2_only (equal v2 info-hashes), multi and single
// file, at two piece lengths, and libtorrent reads ours back.
func TestCreateV2MatchesLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root := content(t)
	for _, pl := range []int64{16 << 10, 64 << 10} {
		for _, multi := range []bool{true, false} {
			t.Run(fmt.Sprintf("multi %v %d", multi, pl), func(t *testing.T) {
				path, files := root, metainfoFiles
				if !multi {
					path, files = filepath.Join(root, "b.bin"), []thirdparty.File{{Path: "b.bin", Size: 100000}}
				}
				_, lt := ltCreate(t, path, files, multi, pl, "v2_only")
				ours := bttCreate(t, path, "--piece-length", fmt.Sprint(pl), "--v2")
				m, err := metainfo.Load(ours)
				if err != nil {
					t.Fatal(err)
				}
				if m.Info.HasV1() {
					t.Fatal("--v2 wrote v1 pieces")
				}
				if h2 := infoHashV2(t, m); fmt.Sprintf("%x", h2) != lt.V2 {
					t.Errorf("v2 info-hash %x, libtorrent %s", h2, lt.V2)
				}
				got := ltQuery(t, map[string]any{"op": "inspect", "torrent": ours})
				if got.V2 != lt.V2 || got.NumPieces != m.Info.NumPieces() {
					t.Errorf("libtorrent reads ours as %s with %d pieces, want %s with %d", got.V2, got.NumPieces, lt.V2, m.Info.NumPieces())
				}
			})
		}
	}
}

// TestV2CorruptBlockBlamedByTree: a libtorrent seeder and one of ours whose copy of a file
// is corrupt serve a v2 torrent to our leecher. Each failed piece's block hashes, asked of
// a peer by hash request and checked against the piece's root, name the bad blocks at
// once: their sender is banned, libtorrent is not, and the download completes intact.
func TestV2CorruptBlockBlamedByTree(t *testing.T) {
	mi, _, dir, lt := ltSeedsV2(t, false)
	badDir := filepath.Join(t.TempDir(), "bad")
	if err := os.CopyFS(badDir, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	bad := startSession(t, "127.0.0.3", peer.Settings{})
	addV2(t, bad, mi, badDir)
	// After the seeder verified its copy: it now serves corrupt a.bin and d.bin as good.
	for _, f := range []thirdparty.File{v2Files[0], v2Files[5]} { // a.bin and d.bin
		if err := os.WriteFile(filepath.Join(badDir, "v2content", f.Path), bytes.Repeat([]byte{0x55}, int(f.Size)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The leecher meets the corrupt seeder first, so some pieces fail before any peer can
	// answer for them; libtorrent, added then, is asked for their block hashes as soon as
	// it says it has every piece.
	leecher := startSession(t, "127.0.0.1", peer.Settings{HashFailBan: 2})
	out := t.TempDir()
	tor := addV2(t, leecher, mi, out, bad.Addr().String())
	for deadline := time.Now().Add(30 * time.Second); tor.Stats().HashFailures == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the corrupt seeder sent no corrupt piece: %+v", tor.Stats())
		}
	}
	if err := tor.AddPeers(lt.Addr()); err != nil {
		t.Fatal(err)
	}
	waitOurs(t, tor, 60*time.Second)
	sameContent(t, mi.Info, dir, out)
	st := tor.Stats()
	t.Logf("hash failures %d, blocks blamed by the tree %d, banned %d", st.HashFailures, st.BlocksBlamedByTree, st.Banned)
	if st.BlocksBlamedByTree == 0 {
		t.Errorf("%d pieces failed but no block was blamed by its hashes", st.HashFailures)
	}
	if st.Banned != 1 {
		t.Errorf("%d peers banned, want the corrupt seeder alone", st.Banned)
	}
}

// TestV2MagnetFromLibtorrent: we join a v2-only torrent by a btmh-only magnet link with
// libtorrent as the one peer: the info dictionary comes by ut_metadata (checked by
// SHA-256), the piece layers by hash requests (checked by their proofs), then the data.
func TestV2MagnetFromLibtorrent(t *testing.T) {
	mi, _, dir, lt := ltSeedsV2(t, false)
	h2, _ := mi.InfoHashV2()
	m, err := magnet.Parse(fmt.Sprintf("magnet:?xt=urn:btmh:1220%x&x.pe=%s", h2, lt.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	leecher := startSession(t, "127.0.0.1", peer.Settings{})
	out := t.TempDir()
	tor, err := leecher.AddMagnet(ctxFor(t, 30*time.Second), m, peer.TorrentOptions{DataDir: out})
	if err != nil {
		t.Fatal(err)
	}
	waitOurs(t, tor, 60*time.Second)
	sameContent(t, mi.Info, dir, out)
	if st := tor.Stats(); st.HashFailures != 0 {
		t.Errorf("%d hash failures", st.HashFailures)
	}
}
