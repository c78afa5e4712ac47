package conformance

// Conformance of storage (file layout, BEP 47 pad files, piece hashing, recheck) with
// libtorrent 2.0.8: libtorrent makes v1 and hybrid (v1+v2, pad-aligned) torrents of real
// files; storage must verify libtorrent's data with libtorrent's hashes, and data that
// storage writes must pass libtorrent's own check. No network is used.

import (
	"bytes"
	"context"
	"encoding/hex"
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
	"github.com/speedbt/btt/storage"
)

// storageLT is run with Debian's python3. "create ROOT PIECE_LENGTH v1|hybrid OUT.torrent"
// prints the layout libtorrent chose (files with pad flags, piece hashes, v1 info-hash) as
// JSON; "check TORRENT SAVE_PATH" adds the torrent to a session with everything networked
// off, lets libtorrent check the files, and prints which pieces it found. "seed TORRENT
// SAVE PORT" seeds on 127.0.0.1:PORT (TCP only, no encryption) and prints "ready" until
// its stdin closes; "leech TORRENT SAVE PEERPORT" downloads from the peer at
// 127.0.0.1:PEERPORT and prints the pieces it has once it seeds.
const storageLT = `
import json, sys, time
import libtorrent as lt

def create(root, plen, kind, out):
    fs = lt.file_storage()
    lt.add_files(fs, root)
    flags = lt.create_torrent.v1_only if kind == "v1" else 0
    ct = lt.create_torrent(fs, int(plen), flags=flags)
    lt.set_piece_hashes(ct, root.rsplit("/", 1)[0])
    data = lt.bencode(ct.generate())
    open(out, "wb").write(data)
    ti = lt.torrent_info(lt.bdecode(data))
    st = ti.files()
    files = []
    for i in range(st.num_files()):
        files.append({"path": st.file_path(i).split("/"), "size": st.file_size(i),
                      "pad": bool(st.file_flags(i) & lt.file_storage.flag_pad_file)})
    hashes = [ti.hash_for_piece(i).hex() for i in range(ti.num_pieces())]
    print(json.dumps({"piece_length": ti.piece_length(), "files": files, "hashes": hashes,
                      "info_hash": str(ti.info_hashes().v1)}))

def settings(port):
    return {"listen_interfaces": "127.0.0.1:%d" % port, "enable_dht": False, "enable_lsd": False,
            "enable_upnp": False, "enable_natpmp": False, "dht_bootstrap_nodes": "",
            "allow_multiple_connections_per_ip": True, "in_enc_policy": 2, "out_enc_policy": 2,
            "enable_outgoing_utp": False, "enable_incoming_utp": False}

def add(s, torrent, save):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    return s.add_torrent(atp)

def seed(torrent, save, port):
    s = lt.session(settings(int(port)))
    h = add(s, torrent, save)
    deadline = time.time() + 60
    while not h.status().is_seeding:
        if time.time() > deadline:
            sys.exit("seed never ready: %s" % h.status().state)
        time.sleep(0.05)
    print("ready", flush=True)
    sys.stdin.read()

def leech(torrent, save, peerport):
    s = lt.session(settings(0))
    h = add(s, torrent, save)
    deadline = time.time() + 60
    last = 0
    while time.time() < deadline:
        st = h.status()
        if st.is_seeding:
            print(json.dumps({"pieces": [bool(x) for x in st.pieces], "state": str(st.state)}))
            return
        if time.time() - last > 2 and st.num_peers == 0 and st.state == lt.torrent_status.downloading:
            h.connect_peer(("127.0.0.1", int(peerport)))
            last = time.time()
        time.sleep(0.05)
    sys.exit("leech timed out: %s, %d peers, progress %.3f" % (st.state, st.num_peers, st.progress))

def check(torrent, save):
    s = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                    "enable_upnp": False, "enable_natpmp": False, "dht_bootstrap_nodes": ""})
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    atp.flags |= lt.torrent_flags.paused
    h = s.add_torrent(atp)
    h.force_recheck()
    deadline = time.time() + 60
    while time.time() < deadline:
        st = h.status()
        if st.has_metadata and st.state not in (lt.torrent_status.checking_files,
                lt.torrent_status.checking_resume_data) and not st.errc.value():
            time.sleep(0.2)
            st = h.status()
            if st.state not in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data):
                print(json.dumps({"pieces": [bool(x) for x in st.pieces], "state": str(st.state)}))
                return
        time.sleep(0.05)
    sys.exit("libtorrent check timed out: %s" % h.status().state)

{"create": create, "check": check, "seed": seed, "leech": leech}[sys.argv[1]](*sys.argv[2:])
`

type ltLayout struct {
	PieceLength int64 `json:"piece_length"`
	Files       []struct {
		Path []string `json:"path"`
		Size int64    `json:"size"`
		Pad  bool     `json:"pad"`
	} `json:"files"`
	Hashes   []string `json:"hashes"`
	InfoHash string   `json:"info_hash"`
}

func runLT(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, testutil.Python, append([]string{script}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("libtorrent %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

func TestStorageLibtorrentLayout(t *testing.T) {
	testutil.NeedLibtorrent(t)
	script := filepath.Join(t.TempDir(), "storage_lt.py")
	if err := os.WriteFile(script, []byte(storageLT), 0o644); err != nil {
		t.Fatal(err)
	}
	// Sizes chosen so files start and end inside pieces, one file is empty and one spans
	// several pieces; the hybrid torrent then needs pad files between them.
	srcRoot := filepath.Join(t.TempDir(), "src")
	sizes := map[string]int64{"a.bin": 100003, "b/c.bin": 5, "b/empty": 0, "b/d.bin": 70000, "z.bin": 32768}
	rng := rand.New(rand.NewPCG(8, 9))
	for name, size := range sizes {
		p := filepath.Join(srcRoot, "tor", filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []string{"v1", "hybrid"} {
		t.Run(kind, func(t *testing.T) {
			torrent := filepath.Join(t.TempDir(), "t.torrent")
			var lay ltLayout
			out := runLT(t, script, "create", filepath.Join(srcRoot, "tor"), "32768", kind, torrent)
			if err := json.Unmarshal(out, &lay); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			spec := storage.Spec{PieceLength: lay.PieceLength}
			pads := 0
			for _, f := range lay.Files {
				spec.Files = append(spec.Files, storage.File{Path: f.Path, Length: f.Size, Pad: f.Pad})
				if f.Pad {
					pads++
				}
			}
			for _, h := range lay.Hashes {
				b, err := hex.DecodeString(h)
				if err != nil || len(b) != 20 {
					t.Fatalf("hash %q", h)
				}
				spec.Hashes = append(spec.Hashes, [20]byte(b))
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
			f.WriteAt([]byte{0xff ^ readByte(t, p, 40000)}, 40000)
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

func ltCheck(t *testing.T, script, torrent, save string) []bool {
	t.Helper()
	var res struct {
		Pieces []bool `json:"pieces"`
		State  string `json:"state"`
	}
	out := runLT(t, script, "check", torrent, save)
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res.Pieces
}

func readByte(t *testing.T, path string, off int64) byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b[0]
}
