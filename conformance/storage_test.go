package conformance

// Conformance of storage (file layout, BEP 47 pad files, piece hashing, recheck) with
// libtorrent 2.0.8: libtorrent makes v1 and hybrid (v1+v2, pad-aligned) torrents of real
// files, wire/metainfo parses them into a storage.Spec (as the session will), storage
// must verify libtorrent's data with libtorrent's hashes, and data that storage writes
// must pass libtorrent's own check. No network is used.

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/storage"
	"github.com/speedbt/btt/wire/metainfo"
)

// ltCheckScript is run with Debian's python3: "TORRENT SAVE_PATH" adds the torrent to a
// session with everything networked off, lets libtorrent check the files and prints
// which pieces it found, as JSON.
const ltCheckScript = `
import json, sys, time
import libtorrent as lt

torrent, save = sys.argv[1:]
s = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                "enable_upnp": False, "enable_natpmp": False, "dht_bootstrap_nodes": ""})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
atp.flags |= lt.torrent_flags.paused
h = s.add_torrent(atp)
h.force_recheck()
checking = (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
deadline = time.time() + 60
while time.time() < deadline:
    st = h.status()
    if st.has_metadata and st.state not in checking and not st.errc.value():
        time.sleep(0.2)
        st = h.status()
        if st.state not in checking:
            print(json.dumps({"pieces": [bool(x) for x in st.pieces], "state": str(st.state)}))
            sys.exit(0)
    time.sleep(0.05)
sys.exit("libtorrent check timed out: %s" % h.status().state)
`

// specOf turns a parsed info dictionary into a storage.Spec: the session's adapter.
func specOf(t *testing.T, torrent []byte) storage.Spec {
	t.Helper()
	mi, err := metainfo.Parse(torrent)
	if err != nil {
		t.Fatal(err)
	}
	spec := storage.Spec{PieceLength: mi.Info.PieceLength, Hashes: mi.Info.Pieces}
	for _, f := range mi.Info.Files {
		spec.Files = append(spec.Files, storage.File{Path: f.Path, Length: f.Length, Pad: f.Pad})
	}
	return spec
}

// writeRandomFiles writes files of the given sizes under root with seeded random bytes.
func writeRandomFiles(t *testing.T, root string, seed uint64, sizes map[string]int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	names := make([]string, 0, len(sizes))
	for name := range sizes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := filepath.Join(root, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		data := make([]byte, sizes[name])
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStorageLibtorrentLayout(t *testing.T) {
	testutil.NeedLibtorrent(t)
	script := filepath.Join(t.TempDir(), "ltcheck.py")
	if err := os.WriteFile(script, []byte(ltCheckScript), 0o644); err != nil {
		t.Fatal(err)
	}
	// Sizes chosen so files start and end inside pieces, one file is empty and one spans
	// several pieces; the hybrid torrent then needs pad files between them.
	srcRoot := t.TempDir()
	writeRandomFiles(t, filepath.Join(srcRoot, "tor"), 8, map[string]int64{"a.bin": 100003, "b/c.bin": 5, "b/empty": 0, "b/d.bin": 70000, "z.bin": 32768})
	rng := rand.New(rand.NewPCG(8, 9))
	for _, kind := range []string{"v1", "hybrid"} {
		t.Run(kind, func(t *testing.T) {
			raw := thirdparty.LibtorrentCreateTorrent(t, filepath.Join(srcRoot, "tor"), 32768, kind == "v1", nil)
			torrent := thirdparty.WriteTorrent(t, raw)
			spec := specOf(t, raw)
			pads := 0
			for _, f := range spec.Files {
				if f.Pad {
					pads++
				}
			}
			if kind == "hybrid" && pads == 0 {
				t.Fatal("libtorrent made no pad files for a hybrid torrent; the test lost its point")
			}
			t.Logf("%s: %d files (%d pads), %d pieces", kind, len(spec.Files), pads, len(spec.Hashes))

			// 1. storage verifies libtorrent's files with libtorrent's hashes.
			src, err := storage.Open(srcRoot, spec, storage.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			have, err := src.Recheck(t.Context(), 2)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(have, false) {
				t.Fatalf("storage rejects libtorrent's data: %v", have)
			}

			// 2. storage downloads the torrent (blocks read from the source, shuffled) into
			// a fresh directory, and libtorrent's check accepts every piece.
			dstRoot := t.TempDir()
			dst, err := storage.Open(dstRoot, spec, storage.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			type blk struct{ piece, begin, n int }
			var blocks []blk
			for i := range spec.Hashes {
				size := int(dst.PieceSize(i))
				for b := 0; b < size; b += storage.BlockSize {
					blocks = append(blocks, blk{i, b, min(storage.BlockSize, size-b)})
				}
			}
			rng.Shuffle(len(blocks), func(i, j int) { blocks[i], blocks[j] = blocks[j], blocks[i] })
			buf := make([]byte, storage.BlockSize)
			verified := 0
			for _, b := range blocks {
				if err := src.ReadBlock(b.piece, b.begin, buf[:b.n]); err != nil {
					t.Fatal(err)
				}
				res, err := dst.WriteBlockHashed(b.piece, b.begin, buf[:b.n])
				if err != nil || res == storage.PieceFailed {
					t.Fatalf("block %v: %v %v", b, res, err)
				}
				if res == storage.PieceVerified {
					verified++
				}
			}
			if verified != len(spec.Hashes) {
				t.Fatalf("%d of %d pieces verified", verified, len(spec.Hashes))
			}
			for _, f := range spec.Files {
				_, err := os.Stat(filepath.Join(append([]string{dstRoot}, f.Path...)...))
				if f.Pad != (err != nil) {
					t.Fatalf("%s: pad %v, stat %v", strings.Join(f.Path, "/"), f.Pad, err)
				}
			}
			ltHave := ltCheck(t, script, torrent, dstRoot)
			if slices.Contains(ltHave, false) || len(ltHave) != len(spec.Hashes) {
				t.Fatalf("libtorrent rejects storage's data: %v", ltHave)
			}

			// 3. damage one byte; libtorrent and storage's recheck agree on what is lost.
			p := filepath.Join(dstRoot, "tor", "b", "d.bin")
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			one := make([]byte, 1)
			f.ReadAt(one, 40000)
			one[0] ^= 0xff
			f.WriteAt(one, 40000)
			f.Close()
			dst.Close()
			again, err := storage.Open(dstRoot, spec, storage.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			ours, err := again.Recheck(t.Context(), 2)
			if err != nil {
				t.Fatal(err)
			}
			ltHave = ltCheck(t, script, torrent, dstRoot)
			if !slices.Equal(ours, ltHave) || !slices.Contains(ours, false) {
				t.Fatalf("after damage: storage %v, libtorrent %v", ours, ltHave)
			}
		})
	}
}

// ltCheck has libtorrent check the data in save against torrent and returns its pieces.
func ltCheck(t *testing.T, script, torrent, save string) []bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, testutil.Python, script, torrent, save)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("libtorrent check: %v\n%s", err, stderr.Bytes())
	}
	var res struct {
		Pieces []bool `json:"pieces"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.Bytes())
	}
	return res.Pieces
}
