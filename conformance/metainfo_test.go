package conformance

// Conformance of wire/metainfo, wire/magnet and `btt create` / `btt info` with mktorrent 1.1,
// libtorrent 2.0.8 (python3-libtorrent) and transmission-show 3.00. These tests only run
// local programs on files; they need no network, so the netns is optional for them.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/wire/magnet"
	"github.com/speedbt/btt/wire/metainfo"
)

// metainfoFiles is multi-file content with what makes file order and piece boundaries
// interesting: nested directories, a hidden file, an empty file, files smaller than a piece
// and files spanning several, and names whose bytewise order differs from a per-directory
// walk ("sub-x" < "sub.txt" < "sub/...").
var metainfoFiles = []thirdparty.File{
	{Path: ".hidden", Size: 5},
	{Path: "A.txt", Size: 3},
	{Path: "b.bin", Size: 100000},
	{Path: "empty", Size: 0},
	{Path: "sub-x", Size: 70001},
	{Path: "sub.txt", Size: 16384},
	{Path: "sub/a.bin", Size: 300001},
	{Path: "sub/deeper/z", Size: 17},
}

// run runs a program with a deadline and returns its stdout.
func runTool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v\n%s%s", name, args, err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes()
}

// bttCreate runs `btt create` and returns the written torrent's path.
func bttCreate(t *testing.T, path string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "btt.torrent")
	runTool(t, testutil.BuildCmd(t, "btt"), append([]string{"create", path, "-o", out}, args...)...)
	return out
}

// bttInfo runs `btt info` and returns its "key: value" lines and its file lines.
func bttInfo(t *testing.T, torrent string) (map[string]string, []string) {
	t.Helper()
	out := runTool(t, testutil.BuildCmd(t, "btt"), "info", torrent)
	kv := map[string]string{}
	var files []string
	inFiles := false
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		switch {
		case line == "files:":
			inFiles = true
		case strings.HasPrefix(line, "  ") && inFiles:
			files = append(files, strings.TrimSpace(line))
		case !strings.HasPrefix(line, "  "):
			inFiles = false
			if k, v, ok := strings.Cut(line, ": "); ok {
				kv[k] = v
			}
		}
	}
	return kv, files
}

// ltScript answers questions about torrents and magnets with libtorrent; see ltQuery.
const ltScript = `
import json, os, sys
import libtorrent as lt

def describe(ti):
    ih = ti.info_hashes()
    fs = ti.files()
    return {
        "v1": str(ih.v1) if ih.has_v1() else "",
        "v2": str(ih.v2) if ih.has_v2() else "",
        "name": ti.name(),
        "num_pieces": ti.num_pieces(),
        "piece_length": ti.piece_length(),
        "total_size": ti.total_size(),
        "private": ti.priv(),
        "files": [[fs.file_path(i), fs.file_size(i), bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)]
                  for i in range(fs.num_files())],
        "trackers": [[t.url, t.tier] for t in ti.trackers()],
        "web_seeds": [w["url"] for w in ti.web_seeds()],
        "magnet": lt.make_magnet_uri(ti),
    }

cfg = json.load(open(sys.argv[1]))
op = cfg["op"]
if op == "create":
    # Files are added in the order given, so the order can match mktorrent's.
    fs = lt.file_storage()
    name = os.path.basename(cfg["root"])
    for path, size in cfg["files"]:
        fs.add_file(os.path.join(name, path) if cfg["multi"] else name, size)
    flags = 0
    for f in cfg["flags"]:
        flags |= getattr(lt.create_torrent, f)
    ct = lt.create_torrent(fs, cfg["piece_length"], flags=flags)
    lt.set_piece_hashes(ct, os.path.dirname(cfg["root"]))
    data = lt.bencode(ct.generate())
    open(cfg["out"], "wb").write(data)
    print(json.dumps(describe(lt.torrent_info(data))))
elif op == "inspect":
    print(json.dumps(describe(lt.torrent_info(cfg["torrent"]))))
elif op == "magnet":
    p = lt.parse_magnet_uri(cfg["uri"])
    ih = p.info_hashes
    print(json.dumps({"v1": str(ih.v1) if ih.has_v1() else "", "v2": str(ih.v2) if ih.has_v2() else "",
                      "name": p.name, "trackers": list(p.trackers), "web_seeds": list(p.url_seeds),
                      "peers": ["%s:%d" % pe for pe in p.peers], "file_priorities": list(p.file_priorities)}))
`

// ltInfo is what ltScript reports about a torrent.
type ltInfo struct {
	V1          string   `json:"v1"`
	V2          string   `json:"v2"`
	Name        string   `json:"name"`
	NumPieces   int      `json:"num_pieces"`
	PieceLength int64    `json:"piece_length"`
	TotalSize   int64    `json:"total_size"`
	Private     bool     `json:"private"`
	Files       [][3]any `json:"files"`
	Trackers    [][2]any `json:"trackers"`
	WebSeeds    []string `json:"web_seeds"`
	Magnet      string   `json:"magnet"`
}

// ltMagnet is what ltScript reports about a magnet link.
type ltMagnet struct {
	V1       string   `json:"v1"`
	V2       string   `json:"v2"`
	Name     string   `json:"name"`
	Trackers []string `json:"trackers"`
	WebSeeds []string `json:"web_seeds"`
	Peers    []string `json:"peers"`
	// FilePriorities is how libtorrent applies BEP 53's so: 4 for selected files, 0 for the rest.
	FilePriorities []int `json:"file_priorities"`
}

func ltQuery(t *testing.T, cfg map[string]any) ltInfo {
	t.Helper()
	var info ltInfo
	ltRun(t, cfg, &info)
	return info
}

func ltRun(t *testing.T, cfg map[string]any, result any) {
	t.Helper()
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	script, cfgPath := filepath.Join(dir, "lt.py"), filepath.Join(dir, "cfg.json")
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(ltScript), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(runTool(t, testutil.Python, script, cfgPath), result); err != nil {
		t.Fatal(err)
	}
}

// ltCreate makes a torrent with libtorrent's create_torrent, files in the given order.
func ltCreate(t *testing.T, root string, files []thirdparty.File, multi bool, pieceLength int64, flags ...string) (string, ltInfo) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "lt.torrent")
	var list [][2]any
	for _, f := range files {
		list = append(list, [2]any{f.Path, f.Size})
	}
	if flags == nil {
		flags = []string{}
	}
	info := ltQuery(t, map[string]any{"op": "create", "root": root, "files": list, "multi": multi,
		"piece_length": pieceLength, "flags": flags, "out": out})
	return out, info
}

func content(t *testing.T) string {
	return thirdparty.WriteFiles(t, filepath.Join(t.TempDir(), "content"), metainfoFiles)
}

func hexHash(t *testing.T, path string) string {
	t.Helper()
	m, err := metainfo.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h := m.InfoHash()
	return hex.EncodeToString(h[:])
}

// TestCreateMatchesMktorrent: for the same content and piece length, btt create and mktorrent
// give the same info-hash, single and multi-file, public and private.
func TestCreateMatchesMktorrent(t *testing.T) {
	mk := testutil.NeedTool(t, "mktorrent")
	root := content(t)
	for _, tc := range []struct {
		name    string
		path    string
		log2    int
		private bool
	}{
		{"multi 32K", root, 15, false}, // mktorrent 1.1 takes -l 15..28
		{"multi 1M", root, 20, false},
		{"multi 64K private", root, 16, true},
		{"multi 256K", root, 18, false},
		{"single 32K", filepath.Join(root, "sub", "a.bin"), 15, false},
		{"single 256K private", filepath.Join(root, "b.bin"), 18, true},
		{"single smaller than a piece", filepath.Join(root, "A.txt"), 16, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mkOut := filepath.Join(t.TempDir(), "mk.torrent")
			args := []string{"-l", strconv.Itoa(tc.log2), "-a", "http://127.0.0.1:1/announce", "-o", mkOut}
			bttArgs := []string{"--piece-length", strconv.Itoa(1 << tc.log2), "-a", "http://127.0.0.1:1/announce"}
			if tc.private {
				args = append(args, "-p")
				bttArgs = append(bttArgs, "--private")
			}
			runTool(t, mk, append(args, tc.path)...)
			ours := bttCreate(t, tc.path, bttArgs...)
			if got, want := hexHash(t, ours), hexHash(t, mkOut); got != want {
				t.Errorf("btt create info-hash %s, mktorrent %s", got, want)
			}
			kv, _ := bttInfo(t, ours)
			if kv["info-hash"] != hexHash(t, mkOut) {
				t.Errorf("btt info says info-hash %s", kv["info-hash"])
			}
		})
	}
}

// TestCreateMatchesMktorrentWholeFile: without a creation date and with mktorrent's "created
// by", btt create writes the very bytes mktorrent writes, trackers in tiers, web seeds (one
// as a string, several as a list), comment and private flag included.
func TestCreateMatchesMktorrentWholeFile(t *testing.T) {
	mk := testutil.NeedTool(t, "mktorrent")
	root := content(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"one tracker", []string{"-a", "http://127.0.0.1:1/announce"}},
		{"tiers, web seeds, comment, private", []string{"-a", "http://127.0.0.1:1/a", "-a", "http://127.0.0.1:2/b,udp://127.0.0.1:3",
			"-w", "http://127.0.0.1:8/x", "-w", "http://127.0.0.1:9/y", "-c", "a comment", "-p"}},
		{"one web seed, source", []string{"-a", "http://127.0.0.1:1/a", "-w", "http://127.0.0.1:8/", "-s", "SRC"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mkOut := filepath.Join(t.TempDir(), "mk.torrent")
			runTool(t, mk, append([]string{"-d", "-l", "15", "-o", mkOut}, append(tc.args, root)...)...)
			ours := bttCreate(t, root, append([]string{"-d", "--created-by", "mktorrent 1.1", "--piece-length", "32768"}, tc.args...)...)
			want, err := os.ReadFile(mkOut)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(ours)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("btt create wrote\n%.300q\nmktorrent\n%.300q", got, want)
			}
		})
	}
}

// TestCreateMatchesLibtorrent: btt create and libtorrent's create_torrent (v1-only, files
// added in the same order) give the same info-hash; with pad files, btt create --pad matches
// libtorrent's canonical v1 layout (pads between files, none at the tail). libtorrent also
// reads our torrents and agrees on pieces, sizes and files.
func TestCreateMatchesLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root := content(t)
	for _, pl := range []int64{16 << 10, 64 << 10} {
		t.Run(fmt.Sprintf("multi %d", pl), func(t *testing.T) {
			_, lt := ltCreate(t, root, metainfoFiles, true, pl, "v1_only")
			ours := bttCreate(t, root, "--piece-length", strconv.FormatInt(pl, 10))
			if got := hexHash(t, ours); got != lt.V1 {
				t.Errorf("btt create info-hash %s, libtorrent %s", got, lt.V1)
			}
			checkLibtorrentReads(t, ours)
		})
		t.Run(fmt.Sprintf("single %d", pl), func(t *testing.T) {
			path := filepath.Join(root, "sub", "a.bin")
			lt := thirdparty.LibtorrentCreateTorrent(t, path, int(pl), true, nil)
			ours := bttCreate(t, path, "--piece-length", strconv.FormatInt(pl, 10))
			if got, want := hexHash(t, ours), hex.EncodeToString(sha1Of(t, lt)); got != want {
				t.Errorf("btt create info-hash %s, libtorrent %s", got, want)
			}
			checkLibtorrentReads(t, ours)
		})
	}
	t.Run("pad files", func(t *testing.T) {
		// libtorrent's canonical order is the v2 tree order (per path component); these
		// names sort the same way bytewise, which is btt's order.
		files := []thirdparty.File{{Path: "a.bin", Size: 100000}, {Path: "b/c.bin", Size: 40000}, {Path: "b/d", Size: 16384}, {Path: "e.bin", Size: 5}}
		padRoot := thirdparty.WriteFiles(t, filepath.Join(t.TempDir(), "padded"), files)
		_, lt := ltCreate(t, padRoot, files, true, 16<<10, "v1_only", "canonical_files_no_tail_padding")
		ours := bttCreate(t, padRoot, "--piece-length", "16384", "--pad")
		if got := hexHash(t, ours); got != lt.V1 {
			t.Errorf("btt create --pad info-hash %s, libtorrent %s", got, lt.V1)
		}
		got := checkLibtorrentReads(t, ours)
		pads := 0
		for _, f := range got.Files {
			if f[2].(bool) {
				pads++
			}
		}
		if pads != 2 { // after a.bin (100000) and b/c.bin; b/d is 16384, aligned already
			t.Errorf("libtorrent sees %d pad files in %v, want 2", pads, got.Files)
		}
	})
}

// TestCreateHybridMatchesLibtorrent: btt create --hybrid makes the same v1+v2 hybrid torrent
// as libtorrent 2.0's create_torrent with default flags (it orders the files itself): both
// info-hashes agree, single and multi-file, at two piece lengths.
func TestCreateHybridMatchesLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root := content(t)
	for _, pl := range []int{16 << 10, 64 << 10} {
		for _, path := range []string{root, filepath.Join(root, "sub", "a.bin")} {
			t.Run(fmt.Sprintf("%s %d", filepath.Base(path), pl), func(t *testing.T) {
				lt := thirdparty.LibtorrentCreateTorrent(t, path, pl, false, nil)
				ours := bttCreate(t, path, "--piece-length", strconv.Itoa(pl), "--hybrid")
				m, err := metainfo.Load(ours)
				if err != nil {
					t.Fatal(err)
				}
				h, h2 := m.InfoHash(), infoHashV2(t, m)
				if want := thirdparty.InfoHash(t, lt); h != want {
					t.Errorf("v1 info-hash %x, libtorrent %x", h, want)
				}
				if want := thirdparty.InfoHashV2(t, lt); h2 != want {
					t.Errorf("v2 info-hash %x, libtorrent %x", h2, want)
				}
				got := checkLibtorrentReads(t, ours)
				if got.V2 != hex.EncodeToString(h2[:]) {
					t.Errorf("libtorrent reads v2 hash %s, we wrote %x", got.V2, h2)
				}
			})
		}
	}
}

// checkLibtorrentReads has libtorrent load a torrent and compares what it sees with our parse.
func checkLibtorrentReads(t *testing.T, path string) ltInfo {
	t.Helper()
	lt := ltQuery(t, map[string]any{"op": "inspect", "torrent": path})
	m, err := metainfo.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h := m.InfoHash()
	var files [][3]any
	for _, f := range m.Info.Files {
		files = append(files, [3]any{strings.Join(f.Path, "/"), float64(f.Length), f.Pad})
	}
	if lt.V1 != hex.EncodeToString(h[:]) || lt.NumPieces != m.Info.NumPieces() || lt.TotalSize != m.Info.TotalLength ||
		lt.PieceLength != m.Info.PieceLength || lt.Name != m.Info.Name || lt.Private != m.Info.Private {
		t.Errorf("libtorrent reads %+v; we read hash %x, %d pieces of %d, %d bytes, name %q, private %v",
			lt, h, m.Info.NumPieces(), m.Info.PieceLength, m.Info.TotalLength, m.Info.Name, m.Info.Private)
	}
	if diff := cmp.Diff(lt.Files, files); diff != "" {
		t.Errorf("files (-libtorrent +ours):\n%s", diff)
	}
	return lt
}

// TestParseMatchesLibtorrent parses libtorrent's own hybrid and v2-only torrents and checks
// both info-hashes and the file list against what libtorrent reports.
func TestParseMatchesLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root := content(t)
	sorted := []thirdparty.File{} // v2 wants the tree order; libtorrent sorts it itself
	sorted = append(sorted, metainfoFiles...)
	for _, tc := range []struct {
		name  string
		flags []string
	}{{"hybrid", nil}, {"v2 only", []string{"v2_only"}}} {
		t.Run(tc.name, func(t *testing.T) {
			path, lt := ltCreate(t, root, sorted, true, 16<<10, tc.flags...)
			m, err := metainfo.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			h2, ok := m.InfoHashV2()
			if !ok || hex.EncodeToString(h2[:]) != lt.V2 {
				t.Errorf("v2 info-hash %x (ok %v), libtorrent %s", h2, ok, lt.V2)
			}
			h := m.InfoHash()
			if lt.V1 != "" && hex.EncodeToString(h[:]) != lt.V1 {
				t.Errorf("v1 info-hash %x, libtorrent %s", h, lt.V1)
			}
			if m.Info.NumPieces() != lt.NumPieces {
				t.Errorf("%d pieces, libtorrent %d", m.Info.NumPieces(), lt.NumPieces)
			}
			// Non-pad files agree in order, path and size.
			var ours, theirs []string
			for _, f := range m.Info.Files {
				if !f.Pad {
					ours = append(ours, fmt.Sprintf("%s %d", strings.Join(f.Path, "/"), f.Length))
				}
			}
			for _, f := range lt.Files {
				if !f[2].(bool) {
					theirs = append(theirs, fmt.Sprintf("%s %d", f[0], int64(f[1].(float64))))
				}
			}
			if diff := cmp.Diff(theirs, ours); diff != "" {
				t.Errorf("files (-libtorrent +ours):\n%s", diff)
			}
			kv, _ := bttInfo(t, path)
			if kv["info-hash-v2"] != lt.V2 {
				t.Errorf("btt info says info-hash-v2 %q, libtorrent %s", kv["info-hash-v2"], lt.V2)
			}
		})
	}
}

// TestMagnetMatchesLibtorrent: our magnet parser reads libtorrent's make_magnet_uri, and
// libtorrent's parse_magnet_uri reads ours, with the same hashes, name, trackers, peers.
func TestMagnetMatchesLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root := content(t)
	for _, tc := range []struct {
		name  string
		flags []string
	}{{"v1", []string{"v1_only"}}, {"hybrid", nil}, {"v2 only", []string{"v2_only"}}} {
		t.Run(tc.name, func(t *testing.T) {
			path, lt := ltCreate(t, root, metainfoFiles, true, 32<<10, tc.flags...)
			m, err := metainfo.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			// libtorrent's link, read by us.
			got, err := magnet.Parse(lt.Magnet)
			if err != nil {
				t.Fatalf("magnet.Parse(%q): %v", lt.Magnet, err)
			}
			checkMagnet(t, got, lt)

			// Ours, with trackers, a peer and an awkward name, read by libtorrent.
			ours := m.Magnet()
			ours.DisplayName = "a name & more/ü"
			ours.Trackers = []string{"http://127.0.0.1:6969/announce?k=v&x=1", "udp://127.0.0.1:6969"}
			ours.Peers = []string{"127.0.0.1:6881"}
			ours.SelectOnly = []magnet.Range{{First: 1, Last: 1}, {First: 3, Last: 4}}
			var back ltMagnet
			ltRun(t, map[string]any{"op": "magnet", "uri": ours.String()}, &back)
			if back.V1 != lt.V1 || back.V2 != lt.V2 || back.Name != ours.DisplayName ||
				!cmp.Equal(back.Trackers, ours.Trackers) || !cmp.Equal(back.Peers, ours.Peers) ||
				!cmp.Equal(back.FilePriorities, []int{0, 4, 0, 4, 4}) {
				t.Errorf("libtorrent parses our %s as %+v", ours, back)
			}
		})
	}
}

func checkMagnet(t *testing.T, got *magnet.Magnet, lt ltInfo) {
	t.Helper()
	if lt.V1 != "" && (!got.HasV1 || hex.EncodeToString(got.InfoHash[:]) != lt.V1) {
		t.Errorf("v1 %x (has %v), libtorrent %s", got.InfoHash, got.HasV1, lt.V1)
	}
	if lt.V2 != "" && (!got.HasV2 || hex.EncodeToString(got.InfoHashV2[:]) != lt.V2) {
		t.Errorf("v2 %x (has %v), libtorrent %s", got.InfoHashV2, got.HasV2, lt.V2)
	}
	if got.DisplayName != lt.Name {
		t.Errorf("dn %q, libtorrent %q", got.DisplayName, lt.Name)
	}
}

// TestInfoMatchesTransmissionShow: btt info and transmission-show agree on name, hash,
// piece count and size, total size and the file list (in file order, -u), for torrents from
// btt create, mktorrent and libtorrent. Sizes are compared in transmission-show's own
// rounding, computed here from btt info's exact byte counts.
func TestInfoMatchesTransmissionShow(t *testing.T) {
	ts := testutil.NeedTool(t, "transmission-show")
	root := content(t)
	torrents := map[string]string{
		"btt multi":  bttCreate(t, root, "--piece-length", "32768", "-a", "http://127.0.0.1:1/a", "-a", "http://127.0.0.1:2/b,http://127.0.0.1:3/c", "--private", "-c", "a comment"),
		"btt single": bttCreate(t, filepath.Join(root, "b.bin"), "--piece-length", "16384"),
		"btt padded": bttCreate(t, root, "--piece-length", "16384", "--pad"),
	}
	if _, err := exec.LookPath("mktorrent"); err == nil {
		out := filepath.Join(t.TempDir(), "mk.torrent")
		runTool(t, "mktorrent", "-l", "18", "-a", "http://127.0.0.1:1/a", "-o", out, root)
		torrents["mktorrent multi"] = out
	}
	if err := exec.Command(testutil.Python, "-c", "import libtorrent").Run(); err == nil {
		// v1-only: transmission-show 3.00 fails to parse libtorrent's hybrid torrents.
		torrents["libtorrent v1"] = thirdparty.WriteTorrent(t, thirdparty.LibtorrentCreateTorrent(t, root, 16<<10, true, []string{"http://127.0.0.1:1/a"}))
	}
	for name, path := range torrents {
		t.Run(name, func(t *testing.T) {
			show := parseTransmissionShow(t, runTool(t, ts, "-u", path))
			kv, files := bttInfo(t, path)
			exact := func(key string) int64 {
				f, _, _ := strings.Cut(kv[key], " ")
				n, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					t.Fatalf("btt info %s: %q", key, kv[key])
				}
				return n
			}
			want := map[string]string{
				"Name":        kv["name"],
				"Hash":        kv["info-hash"],
				"Piece Count": kv["piece count"],
				"Piece Size":  trMem(exact("piece size")),
				"Total Size":  trSize(exact("total size")),
			}
			for k, v := range want {
				if show.general[k] != v {
					t.Errorf("%s: transmission-show %q, btt info %q", k, show.general[k], v)
				}
			}
			if got := show.general["Privacy"] == "Private torrent"; got != (kv["private"] == "yes") {
				t.Errorf("privacy: transmission-show %q, btt info %q", show.general["Privacy"], kv["private"])
			}
			if kv["comment"] != show.general["Comment"] {
				t.Errorf("comment: transmission-show %q, btt info %q", show.general["Comment"], kv["comment"])
			}
			// btt info: "SIZE PATH[ [attrs]]"; transmission-show: "PATH (size)".
			var ours []string
			for _, f := range files {
				size, rest, _ := strings.Cut(f, " ")
				p, _, _ := strings.Cut(rest, " [")
				n, err := strconv.ParseInt(size, 10, 64)
				if err != nil {
					t.Fatalf("btt info file line %q", f)
				}
				ours = append(ours, fmt.Sprintf("%s (%s)", p, trSize(n)))
			}
			if diff := cmp.Diff(show.files, ours); diff != "" {
				t.Errorf("files (-transmission-show +btt info):\n%s", diff)
			}
			if len(show.files) == 0 {
				t.Error("transmission-show listed no files")
			}

			// transmission-show -m's magnet link, read by us, names the same torrent.
			link := strings.TrimSpace(string(runTool(t, ts, "-m", path)))
			mg, err := magnet.Parse(link)
			if err != nil {
				t.Fatalf("magnet.Parse(%q): %v", link, err)
			}
			m, err := metainfo.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var trackers []string
			for _, tier := range m.Trackers() {
				trackers = append(trackers, tier...)
			}
			if !mg.HasV1 || mg.InfoHash != m.InfoHash() || mg.DisplayName != m.Info.Name || !cmp.Equal(mg.Trackers, trackers) {
				t.Errorf("transmission-show -m %q parses as %+v", link, mg)
			}
			// For these plain names and URLs the links are character for character the same.
			if ours := m.Magnet().String(); ours != link {
				t.Errorf("our magnet\n%s\ntransmission-show -m\n%s", ours, link)
			}
		})
	}
}

type transmissionShow struct {
	general map[string]string
	files   []string
}

// parseTransmissionShow reads transmission-show 3.00's sections (GENERAL, TRACKERS,
// WEBSEEDS, FILES) of indented lines.
func parseTransmissionShow(t *testing.T, out []byte) transmissionShow {
	t.Helper()
	s := transmissionShow{general: map[string]string{}}
	section := ""
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case line == "":
		case !strings.HasPrefix(line, " "):
			section = line
		case section == "GENERAL":
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok {
				s.general[k] = v
			}
		case section == "FILES":
			s.files = append(s.files, strings.TrimSpace(line))
		}
	}
	if len(s.general) == 0 {
		t.Fatalf("transmission-show printed no GENERAL section:\n%s", out)
	}
	return s
}

// trSize and trMem format sizes as Transmission 3.00 does (libtransmission/utils.c,
// formatter_get_size_str): the largest unit not exceeding the value, starting at kB/KiB, two
// decimals below 100 and one from 100 on. Sizes use 1000 (kB, MB, GB, TB), memory 1024.
func trSize(n int64) string { return trFormat(n, 1000, []string{"kB", "MB", "GB", "TB"}) }
func trMem(n int64) string  { return trFormat(n, 1024, []string{"KiB", "MiB", "GiB", "TiB"}) }

func trFormat(n int64, base float64, units []string) string {
	unit := base
	i := 0
	for i < len(units)-1 && float64(n) >= unit*base {
		unit *= base
		i++
	}
	v := float64(n) / unit
	prec := 2
	if v >= 100 {
		prec = 1
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + " " + units[i]
}

func sha1Of(t *testing.T, torrent []byte) []byte {
	h := thirdparty.InfoHash(t, torrent)
	return h[:]
}

func infoHashV2(t *testing.T, m *metainfo.MetaInfo) [32]byte {
	t.Helper()
	h, ok := m.InfoHashV2()
	if !ok {
		t.Fatal("not a v2 torrent")
	}
	return h
}
