package thirdparty

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/wire/bencode"
	"github.com/speedbt/btt/wire/metainfo"
)

//go:embed ltcreate.py
var ltCreate []byte

// File is one file of generated test content, Path relative to the root.
type File struct {
	Path string
	Size int64
}

// WriteFiles writes files under root with deterministic pseudo-random content
// (the same path and size always give the same bytes, so a torrent made once
// matches data written again). It returns root.
func WriteFiles(t testing.TB, root string, files []File) string {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		h := fnv.New64a()
		h.Write([]byte(f.Path))
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], h.Sum64())
		binary.LittleEndian.PutUint64(seed[8:], uint64(f.Size))
		out, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		rng := rand.NewChaCha8(seed)
		for left := f.Size; left > 0; {
			n := int64(len(buf))
			if left < n {
				n = left
			}
			rng.Read(buf[:n])
			if _, err := out.Write(buf[:n]); err != nil {
				out.Close()
				t.Fatal(err)
			}
			left -= n
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// CreateTorrent writes one file of size bytes, named name, under dir (content as
// WriteFiles makes it) and returns the bytes of the .torrent our own
// metainfo.Create makes of it with pieces of pieceLength bytes.
func CreateTorrent(t testing.TB, dir, name string, size, pieceLength int64) []byte {
	t.Helper()
	WriteFiles(t, dir, []File{{Path: name, Size: size}})
	mi, err := metainfo.Create(context.Background(), filepath.Join(dir, name), metainfo.CreateOptions{PieceLength: pieceLength})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mi.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// LibtorrentCreateTorrent makes a .torrent of path (a file or a directory) with
// libtorrent 2.0's create_torrent and returns its bytes. With v1only false it is
// what libtorrent makes by default: a hybrid v1+v2 torrent with pad files
// between files (so v1 info-hashes of multi-file torrents differ from
// mktorrent's). Each tracker goes in its own tier.
func LibtorrentCreateTorrent(t testing.TB, path string, pieceLength int, v1only bool, trackers []string) []byte {
	t.Helper()
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	cfg, err := json.Marshal(map[string]any{"path": path, "piece_length": pieceLength, "v1_only": v1only, "trackers": trackers})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "create.json")
	script := filepath.Join(dir, "ltcreate.py")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, ltCreate, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout*3)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, testutil.Python, script, cfgPath)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("libtorrent create_torrent %s: %v\n%s", path, err, stderr.Bytes())
	}
	if err := bencode.Valid(stdout.Bytes()); err != nil {
		t.Fatalf("libtorrent create_torrent %s: output is not bencode: %v", path, err)
	}
	return stdout.Bytes()
}

// WriteTorrent writes torrent bytes to a new file in a temporary directory and
// returns its path.
func WriteTorrent(t testing.TB, torrent []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "t.torrent")
	if err := os.WriteFile(p, torrent, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func infoBytes(t testing.TB, torrent []byte) []byte {
	t.Helper()
	var m struct {
		Info bencode.RawMessage `bencode:"info"`
	}
	if err := bencode.Unmarshal(torrent, &m); err != nil {
		t.Fatalf("torrent: %v", err)
	}
	if len(m.Info) == 0 {
		t.Fatal("torrent: no info dictionary")
	}
	return m.Info
}

// InfoHash is the v1 info-hash (SHA-1 of the info dictionary as found) of a
// .torrent. For a hybrid torrent this is the hash v1 peers and trackers use.
func InfoHash(t testing.TB, torrent []byte) [20]byte {
	t.Helper()
	return sha1.Sum(infoBytes(t, torrent))
}

// InfoHashV2 is the BEP 52 info-hash (SHA-256 of the info dictionary). Only
// meaningful for v2 and hybrid torrents; trackers see its first 20 bytes.
func InfoHashV2(t testing.TB, torrent []byte) [32]byte {
	t.Helper()
	return sha256.Sum256(infoBytes(t, torrent))
}
