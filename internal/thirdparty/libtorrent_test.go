package thirdparty

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
)

// multiFiles is the small multi-file payload the tests move between clients:
// sizes chosen so files straddle piece boundaries and one is empty-ish.
var multiFiles = []File{
	{"payload/a.bin", 1<<20 + 12345},
	{"payload/sub/b.bin", 700_000},
	{"payload/sub/c.txt", 17},
	{"payload/d.bin", 2 << 20},
}

// seedSetup writes multiFiles, makes a torrent of them with libtorrent and
// returns (data root, torrent path, torrent bytes).
func seedSetup(t *testing.T, v1only bool, trackers []string) (string, string, []byte) {
	t.Helper()
	root := WriteFiles(t, t.TempDir(), multiFiles)
	tor := LibtorrentCreateTorrent(t, filepath.Join(root, "payload"), 256<<10, v1only, trackers)
	return root, WriteTorrent(t, tor), tor
}

// sameFiles fails the test unless every file of multiFiles under got equals
// the one under want.
func sameFiles(t *testing.T, want, got string) {
	t.Helper()
	for _, f := range multiFiles {
		a, err := os.ReadFile(filepath.Join(want, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(got, f.Path))
		if err != nil {
			t.Fatalf("downloaded file: %v", err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs after transfer (%d vs %d bytes)", f.Path, len(a), len(b))
		}
	}
}

func TestLibtorrentToLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root, torPath, _ := seedSetup(t, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	seed := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: torPath, SavePath: root, Seed: true, TCP: true})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	dl := t.TempDir()
	leech := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
		Torrent: torPath, SavePath: dl, TCP: true, Peers: []string{seed.Addr()}, PieceStats: true})
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, root, dl)
	st := leech.Status()
	if st.Progress != 1 || !st.IsSeeding {
		t.Errorf("leecher status after finish: progress %v seeding %v", st.Progress, st.IsSeeding)
	}
	if st.TotalPayloadDown < st.TotalWanted {
		t.Errorf("leecher downloaded %d payload bytes, torrent has %d", st.TotalPayloadDown, st.TotalWanted)
	}
	if got, want := len(leech.Pieces()), st.NumPieces; got != want {
		t.Errorf("PieceStats reported %d pieces, status says %d", got, want)
	}
	if s := seed.Status(); s.TotalPayloadUp < st.TotalWanted {
		t.Errorf("seeder uploaded %d, want >= %d", s.TotalPayloadUp, st.TotalWanted)
	}
}
