package metainfo

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/wire/bencode"
)

type wantFile struct {
	Path   string
	Length int64
	Pad    bool
}

// The testdata torrents were written by libtorrent 2.0.8 (create_torrent, 16 KiB pieces, v1-only,
// hybrid and v2-only) and mktorrent 1.1; the expected values are what libtorrent's torrent_info
// reports for them.
var testTorrents = []struct {
	file     string
	v1, v2   string
	pieces   int
	size     int64
	multi    bool
	files    []wantFile
	trackers [][]string
	webSeeds []string
	private  bool
}{
	{
		file: "lt-v1-single.torrent", v1: "97be6b99b38db85c94257f9e7ca0f001b1981927",
		pieces: 4, size: 50000, files: []wantFile{{"single.bin", 50000, false}},
		trackers: [][]string{{"http://127.0.0.1:6969/announce"}, {"udp://127.0.0.1:6969"}},
		webSeeds: []string{"http://127.0.0.1:8080/"},
	},
	{
		file: "lt-v1-multi.torrent", v1: "cad3f91178d4ac699260abf48c139717ce5c5e62",
		pieces: 6, size: 90006, multi: true,
		files:    []wantFile{{"multi/a.bin", 70000, false}, {"multi/sub/b.bin", 20000, false}, {"multi/c.txt", 6, false}},
		trackers: [][]string{{"http://127.0.0.1:6969/announce"}, {"udp://127.0.0.1:6969"}},
		webSeeds: []string{"http://127.0.0.1:8080/"},
	},
	{
		file: "lt-hybrid-single.torrent", v1: "9399d3c633685505c124e5302e061d81681c2d2e",
		v2:     "29c3e79672032d8ef3eb37b33455cb842fb2eecc253e4a09e588142dbe5e8b59",
		pieces: 4, size: 50000, files: []wantFile{{"single.bin", 50000, false}},
		trackers: [][]string{{"http://127.0.0.1:6969/announce"}, {"udp://127.0.0.1:6969"}},
		webSeeds: []string{"http://127.0.0.1:8080/"},
	},
	{
		file: "lt-hybrid-multi.torrent", v1: "b5830cdf2e6196b2978e617ebec045667bd2f581",
		v2:     "94366b7437add556a4e3ead3ffd7534633b02f48ebf455dbcaca9ab0fcb8ee19",
		pieces: 8, size: 131072, multi: true,
		files: []wantFile{
			{"multi/a.bin", 70000, false}, {"multi/.pad/11920", 11920, true},
			{"multi/c.txt", 6, false}, {"multi/.pad/16378", 16378, true},
			{"multi/sub/b.bin", 20000, false}, {"multi/.pad/12768", 12768, true},
		},
		trackers: [][]string{{"http://127.0.0.1:6969/announce"}, {"udp://127.0.0.1:6969"}},
		webSeeds: []string{"http://127.0.0.1:8080/"},
	},
	{
		// v2-only: libtorrent counts the alignment padding as pad files; here it shows in
		// the offsets and the total (but not after the last file).
		file:   "lt-v2-single.torrent",
		v2:     "a396b06dbc64001b4d40753d172473e65489ac978bb8407842646b3cac25df68",
		pieces: 4, size: 50000, files: []wantFile{{"single.bin", 50000, false}},
		trackers: [][]string{{"http://127.0.0.1:6969/announce"}, {"udp://127.0.0.1:6969"}},
		webSeeds: []string{"http://127.0.0.1:8080/"},
	},
	{
		file:   "lt-v2-multi.torrent",
		v2:     "002a842b02c2031812475e64b1d1eef3a9842dda201466f97cd7be93ecdaf2cb",
		pieces: 8, size: 70000 + 11920 + 6 + 16378 + 20000, multi: true,
		files:    []wantFile{{"multi/a.bin", 70000, false}, {"multi/c.txt", 6, false}, {"multi/sub/b.bin", 20000, false}},
		trackers: [][]string{{"http://127.0.0.1:6969/announce"}, {"udp://127.0.0.1:6969"}},
		webSeeds: []string{"http://127.0.0.1:8080/"},
	},
	{
		// 64 KiB pieces, 7 and 4 pieces per file: piece layers padded with non-zero hashes.
		file:   "lt-v2-64k.torrent",
		v2:     "8a26634f96b6e96f76c058602540fcbe15e405caf782341431f0c37b1745b040",
		pieces: 11, size: 400000 + 58752 + 200000, multi: true,
		files: []wantFile{{"big/seven.bin", 400000, false}, {"big/three.bin", 200000, false}},
	},
	{
		file: "mktorrent-multi.torrent", v1: "58b2cdd92185f159d186a341da87e8f3bb189031",
		pieces: 7, size: 400007, multi: true, private: true,
		files: []wantFile{
			{"d/.dot", 2, false}, {"d/.hid/h", 2, false}, {"d/A.txt", 3, false},
			{"d/b.bin", 100000, false}, {"d/empty", 0, false}, {"d/sub/a.bin", 300000, false},
		},
		trackers: [][]string{{"http://t/a"}, {"http://t/b", "http://t/c"}},
		webSeeds: []string{"http://ws/"},
	},
	{
		file: "mktorrent-single.torrent", v1: "0b33e40456b5f89387472f3afca6aa44c2200e13",
		pieces: 1, size: 100000, files: []wantFile{{"b.bin", 100000, false}},
		trackers: [][]string{{"http://t/a"}},
	},
}

func TestParseRealTorrents(t *testing.T) {
	for _, tt := range testTorrents {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			h := m.InfoHash()
			if tt.v1 != "" {
				if got := hex.EncodeToString(h[:]); got != tt.v1 {
					t.Errorf("InfoHash = %s, want %s", got, tt.v1)
				}
			}
			h2, ok := m.InfoHashV2()
			if gotOK := tt.v2 != ""; ok != gotOK {
				t.Errorf("InfoHashV2 ok = %v, want %v", ok, gotOK)
			}
			if tt.v2 != "" {
				if got := hex.EncodeToString(h2[:]); got != tt.v2 {
					t.Errorf("InfoHashV2 = %s, want %s", got, tt.v2)
				}
				if tt.v1 == "" && !bytes.Equal(h[:], h2[:20]) {
					t.Errorf("v2-only InfoHash %x is not the truncated v2 hash", h)
				}
			}
			if m.Info.HasV1() != (tt.v1 != "") {
				t.Errorf("HasV1 = %v", m.Info.HasV1())
			}
			if got := m.Info.NumPieces(); got != tt.pieces {
				t.Errorf("NumPieces = %d, want %d", got, tt.pieces)
			}
			if m.Info.TotalLength != tt.size {
				t.Errorf("TotalLength = %d, want %d", m.Info.TotalLength, tt.size)
			}
			if m.Info.IsMultiFile() != tt.multi {
				t.Errorf("IsMultiFile = %v", m.Info.IsMultiFile())
			}
			if m.Info.Private != tt.private {
				t.Errorf("Private = %v", m.Info.Private)
			}
			var files []wantFile
			var off int64
			for _, f := range m.Info.Files {
				files = append(files, wantFile{strings.Join(f.Path, "/"), f.Length, f.Pad})
				if f.Offset < off {
					t.Errorf("file %v offset %d goes backwards", f.Path, f.Offset)
				}
				off = f.Offset + f.Length
			}
			if diff := cmp.Diff(tt.files, files); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.trackers, m.Trackers()); diff != "" {
				t.Errorf("trackers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.webSeeds, m.URLList); diff != "" {
				t.Errorf("web seeds (-want +got):\n%s", diff)
			}
			if !bytes.Contains(data, m.InfoBytes()) {
				t.Error("InfoBytes are not a slice of the file")
			}
			if tt.v2 != "" && tt.v1 == "" && len(m.PieceLayers) == 0 && tt.size > 16384 {
				t.Error("no piece layers parsed")
			}

			// Encode keeps every field, and for torrents written in canonical form the
			// bytes are the same.
			enc, err := m.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			m2, err := Parse(enc)
			if err != nil {
				t.Fatalf("Parse(Encode()): %v", err)
			}
			if diff := cmp.Diff(m, m2, cmp.AllowUnexported(Info{})); diff != "" {
				t.Errorf("round trip (-first +second):\n%s", diff)
			}
			if strings.HasPrefix(tt.file, "mktorrent") && !bytes.Equal(enc, data) {
				t.Errorf("Encode of a mktorrent file differs from the file:\n%q\n%q", enc, data)
			}
		})
	}
}

func TestParseOuterFields(t *testing.T) {
	data, err := os.ReadFile("testdata/mktorrent-multi.torrent")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Comment != "comm" || m.CreatedBy != "mktorrent 1.1" || !m.CreationDate.Equal(time.Unix(1795315474, 0)) {
		t.Errorf("comment %q, created by %q, date %v", m.Comment, m.CreatedBy, m.CreationDate)
	}
	if m.Info.PieceLength != 65536 || m.Info.PieceSize(6) != 400007-6*65536 || m.Info.PieceSize(0) != 65536 {
		t.Errorf("piece length %d, last piece %d", m.Info.PieceLength, m.Info.PieceSize(6))
	}
}

// torrent builds a .torrent around an info dictionary given as a map, filling pieces with
// the right number of (zero) hashes unless the map sets them.
func torrent(t *testing.T, info map[string]any) []byte {
	t.Helper()
	if _, ok := info["piece length"]; !ok {
		info["piece length"] = 16384
	}
	if _, ok := info["name"]; !ok {
		info["name"] = "n"
	}
	if _, ok := info["pieces"]; !ok {
		var total int64
		if l, ok := info["length"].(int); ok {
			total = int64(l)
		}
		if fs, ok := info["files"].([]any); ok {
			for _, f := range fs {
				if l, ok := f.(map[string]any)["length"].(int); ok {
					total += int64(l)
				}
			}
		}
		pl := int64(info["piece length"].(int))
		if pl > 0 {
			info["pieces"] = string(make([]byte, 20*((total+pl-1)/pl)))
		}
	}
	b, err := bencode.Marshal(map[string]any{"announce": "http://t/", "info": info})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func file(length int, path ...any) map[string]any {
	return map[string]any{"length": length, "path": path}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"not bencode", []byte("hello"), ErrInvalid},
		{"trailing data", append(torrent(t, map[string]any{"length": 1}), 'x'), ErrInvalid},
		{"no info", []byte("d8:announce3:urle"), ErrNoInfo},
		{"info not dict", []byte("d4:infoi1ee"), ErrInvalid},
		{"no length or files", torrent(t, map[string]any{}), ErrInvalid},
		{"length and files", torrent(t, map[string]any{"length": 1, "files": []any{file(1, "a")}}), ErrInvalid},
		{"negative length", torrent(t, map[string]any{"length": -1, "pieces": ""}), ErrInvalid},
		{"piece length zero", torrent(t, map[string]any{"length": 1, "piece length": 0, "pieces": ""}), ErrPieceLength},
		{"piece length huge", torrent(t, map[string]any{"length": 1, "piece length": 1 << 30}), ErrPieceLength},
		{"pieces not multiple of 20", torrent(t, map[string]any{"length": 1, "pieces": "abc"}), ErrBadPieces},
		{"too few pieces", torrent(t, map[string]any{"length": 40000, "pieces": string(make([]byte, 40))}), ErrBadPieces},
		{"too many pieces", torrent(t, map[string]any{"length": 1, "pieces": string(make([]byte, 40))}), ErrBadPieces},
		{"name ..", torrent(t, map[string]any{"name": "..", "length": 1}), ErrUnsafePath},
		{"name empty", torrent(t, map[string]any{"name": "", "length": 1}), ErrUnsafePath},
		{"name with slash", torrent(t, map[string]any{"name": "/etc", "length": 1}), ErrUnsafePath},
		{"path ..", torrent(t, map[string]any{"files": []any{file(1, "..", "x")}}), ErrUnsafePath},
		{"path absolute", torrent(t, map[string]any{"files": []any{file(1, "/etc/passwd")}}), ErrUnsafePath},
		{"path empty list", torrent(t, map[string]any{"files": []any{file(1)}}), ErrUnsafePath},
		{"path empty component", torrent(t, map[string]any{"files": []any{file(1, "a", "")}}), ErrUnsafePath},
		{"path NUL", torrent(t, map[string]any{"files": []any{file(1, "a\x00b")}}), ErrUnsafePath},
		{"path backslash", torrent(t, map[string]any{"files": []any{file(1, `..\x`)}}), ErrUnsafePath},
		{"path missing", torrent(t, map[string]any{"files": []any{map[string]any{"length": 1}}}), ErrUnsafePath},
		{"duplicate path", torrent(t, map[string]any{"files": []any{file(1, "a"), file(1, "a")}}), ErrUnsafePath},
		{"file is also dir", torrent(t, map[string]any{"files": []any{file(1, "a"), file(1, "a", "b")}}), ErrUnsafePath},
		{"dir is also file", torrent(t, map[string]any{"files": []any{file(1, "a", "b"), file(1, "a")}}), ErrUnsafePath},
		{"path too deep", torrent(t, map[string]any{"files": []any{file(1, deepPath(66)...)}}), ErrTooLarge},
		{"path too long", torrent(t, map[string]any{"files": []any{file(1, strings.Repeat("a", 4097))}}), ErrTooLarge},
		{"path component not string", torrent(t, map[string]any{"files": []any{file(1, 5)}}), ErrInvalid},
		{"files not list", torrent(t, map[string]any{"files": "x"}), ErrInvalid},
		{"files empty", torrent(t, map[string]any{"files": []any{}}), ErrInvalid},
		{"sizes overflow", torrent(t, map[string]any{"files": []any{file(1<<62, "a"), file(1<<62, "b"), file(1<<62, "c")}, "pieces": ""}), ErrInvalid},
		{"meta version 3", torrent(t, map[string]any{"length": 1, "meta version": 3}), ErrInvalid},
		{"v2 without tree", torrent(t, map[string]any{"length": 1, "meta version": 2}), ErrInvalid},
		{"v2 piece length not power of two", torrent(t, map[string]any{"meta version": 2, "piece length": 20000,
			"file tree": map[string]any{"n": map[string]any{"": map[string]any{"length": 0}}}}), ErrPieceLength},
		{"v2 empty tree", torrent(t, map[string]any{"meta version": 2, "file tree": map[string]any{}}), ErrInvalid},
		{"v2 bad pieces root", torrent(t, map[string]any{"meta version": 2,
			"file tree": map[string]any{"n": map[string]any{"": map[string]any{"length": 5, "pieces root": "short"}}}}), ErrInvalid},
		{"v2 node file and dir", torrent(t, map[string]any{"meta version": 2,
			"file tree": map[string]any{"n": map[string]any{"": map[string]any{"length": 0}, "x": map[string]any{"": map[string]any{"length": 0}}}}}), ErrInvalid},
		{"v2 unsafe name", torrent(t, map[string]any{"meta version": 2,
			"file tree": map[string]any{"..": map[string]any{"": map[string]any{"length": 0}}}}), ErrUnsafePath},
		{"hybrid mismatch", torrent(t, map[string]any{"meta version": 2, "files": []any{file(1, "a")},
			"file tree": map[string]any{"b": map[string]any{"": map[string]any{"length": 1, "pieces root": string(make([]byte, 32))}}}}), ErrInvalid},
		{"symlink without target", torrent(t, map[string]any{"files": []any{map[string]any{"length": 0, "path": []any{"a"}, "attr": "l"}}}), ErrUnsafePath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data)
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	data := torrent(t, map[string]any{"files": []any{file(1, "a"), file(1, "b"), file(1, "c")}})
	if _, err := (Limits{MaxFiles: 2}).Parse(data); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxFiles 2: err = %v", err)
	}
	if _, err := (Limits{MaxFiles: 3}).Parse(data); err != nil {
		t.Errorf("MaxFiles 3: err = %v", err)
	}
	if _, err := (Limits{MaxSize: int64(len(data) - 1)}).Parse(data); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxSize: err = %v", err)
	}
	tree := torrent(t, map[string]any{"meta version": 2, "file tree": map[string]any{
		"a": map[string]any{"": map[string]any{"length": 0}},
		"b": map[string]any{"": map[string]any{"length": 0}},
		"c": map[string]any{"": map[string]any{"length": 0}},
	}})
	if _, err := (Limits{MaxFiles: 2}).Parse(tree); !errors.Is(err, ErrTooLarge) {
		t.Errorf("v2 MaxFiles 2: err = %v", err)
	}
}

func TestAttributes(t *testing.T) {
	data := torrent(t, map[string]any{"files": []any{
		map[string]any{"length": 3, "path": []any{"run.sh"}, "attr": "xh"},
		map[string]any{"length": 16381, "path": []any{".pad", "16381"}, "attr": "p"},
		map[string]any{"length": 0, "path": []any{"link"}, "attr": "l", "symlink path": []any{"run.sh"}},
		map[string]any{"length": 5, "path": []any{"_____padding_file_0"}},
		map[string]any{"length": 7, "path": []any{"data"}, "attr": "z"},
	}})
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []File{
		{Path: []string{"n", "run.sh"}, Length: 3, Executable: true, Hidden: true},
		{Path: []string{"n", ".pad", "16381"}, Length: 16381, Offset: 3, Pad: true},
		{Path: []string{"n", "link"}, Offset: 16384, Symlink: true, SymlinkPath: []string{"run.sh"}},
		{Path: []string{"n", "_____padding_file_0"}, Length: 5, Offset: 16384, Pad: true},
		{Path: []string{"n", "data"}, Length: 7, Offset: 16389},
	}
	if diff := cmp.Diff(want, m.Info.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

// TestInfoHashOverExactBytes checks that the hash is taken over the info dictionary as
// found: unsorted keys and a non-canonical layout keep their own hash.
func TestInfoHashOverExactBytes(t *testing.T) {
	info := "d4:name1:n6:lengthi1e12:piece lengthi16384e6:pieces20:" + strings.Repeat("\x00", 20) + "e"
	data := []byte("d4:info" + info + "e")
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.InfoHash(), sumSHA1([]byte(info)); got != want {
		t.Errorf("InfoHash = %x, want SHA-1 of the bytes as found %x", got, want)
	}
	info2, err := ParseInfo([]byte(info))
	if err != nil {
		t.Fatal(err)
	}
	if info2.Hash() != m.InfoHash() {
		t.Error("ParseInfo hash differs from Parse")
	}
	// ParseInfo keeps its own copy: the caller may reuse the buffer.
	buf := []byte(info)
	info3, err := ParseInfo(buf)
	if err != nil {
		t.Fatal(err)
	}
	clear(buf)
	if !bytes.Equal(info3.Bytes(), []byte(info)) {
		t.Error("ParseInfo's bytes change with the caller's buffer")
	}
}

func TestLooseOuterFields(t *testing.T) {
	// Decorations of the wrong type are ignored rather than failing the torrent.
	data := []byte("d8:announcei5e13:announce-listl3:badl0:1:xee7:comment" + "le" + "13:creation date3:now4:info" +
		"d6:lengthi1e4:name1:n12:piece lengthi16384e6:pieces20:" + strings.Repeat("\x00", 20) + "e" + "8:url-listi3ee")
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Announce != "" || m.Comment != "" || !m.CreationDate.IsZero() || m.URLList != nil {
		t.Errorf("loose fields: %+v", m)
	}
	// A tier written as a bare string counts as a one-tracker tier; an empty tier is dropped.
	if diff := cmp.Diff([][]string{{"bad"}, {"x"}}, m.AnnounceList); diff != "" {
		t.Errorf("announce-list (-want +got):\n%s", diff)
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/lt-hybrid-multi.torrent")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func sumSHA1(b []byte) [20]byte { return sha1.Sum(b) }

func deepPath(n int) []any {
	p := make([]any, n)
	for i := range p {
		p[i] = "a"
	}
	return p
}

// TestPieceLayers checks the v2 piece layers of libtorrent's torrents against their pieces
// roots, and that one flipped bit in a layer is caught.
func TestPieceLayers(t *testing.T) {
	for _, name := range []string{"lt-v2-multi.torrent", "lt-hybrid-multi.torrent", "lt-v2-single.torrent", "lt-v2-64k.torrent"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(m.PieceLayers) == 0 {
			t.Fatalf("%s: no piece layers", name)
		}
		for root, layer := range m.PieceLayers {
			i := bytes.Index(data, layer)
			if i < 0 {
				t.Fatalf("%s: layer of %x not found in the file", name, root)
			}
			bad := bytes.Clone(data)
			bad[i+len(layer)-1] ^= 1
			if _, err := Parse(bad); !errors.Is(err, ErrBadPieces) {
				t.Errorf("%s: layer of %x with a flipped bit: err = %v, want ErrBadPieces", name, root, err)
			}
		}
	}
}

func TestPieceSizeV2(t *testing.T) {
	// lt-v2-64k: big/seven.bin 400000 bytes (pieces 0-6), big/three.bin 200000 (pieces 7-10).
	m, err := Load("testdata/lt-v2-64k.torrent")
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{65536, 65536, 65536, 65536, 65536, 65536, 400000 - 6*65536, 65536, 65536, 65536, 200000 - 3*65536}
	var got []int64
	for i := range m.Info.NumPieces() {
		got = append(got, m.Info.PieceSize(i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("piece sizes (-want +got):\n%s", diff)
	}
}

func TestUTF8Variants(t *testing.T) {
	data := torrent(t, map[string]any{
		"name": "n\xe9", "name.utf-8": "né",
		"files": []any{
			map[string]any{"length": 1, "path": []any{"caf\xe9"}, "path.utf-8": []any{"café"}},
			map[string]any{"length": 1, "path": []any{"plain"}, "path.utf-8": []any{".."}},       // unsafe: ignored
			map[string]any{"length": 1, "path": []any{"other"}, "path.utf-8": []any{"\xff\xfe"}}, // not UTF-8: ignored
		},
	})
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range m.Info.Files {
		got = append(got, strings.Join(f.Path, "/"))
	}
	if diff := cmp.Diff([]string{"né/café", "né/plain", "né/other"}, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	if m.Info.Name != "né" {
		t.Errorf("name %q", m.Info.Name)
	}
}

// BenchmarkParseManyFiles parses a torrent of 100,000 files in 1,000 directories.
func BenchmarkParseManyFiles(b *testing.B) {
	var files []any
	var total int64
	for i := range 100_000 {
		files = append(files, map[string]any{"length": 1000 + i%7, "path": []any{fmt.Sprintf("dir%04d", i/100), fmt.Sprintf("file%06d.dat", i)}})
		total += int64(1000 + i%7)
	}
	pl := int64(256 << 10)
	info := map[string]any{"name": "many", "piece length": pl, "files": files,
		"pieces": string(make([]byte, 20*((total+pl-1)/pl)))}
	data, err := bencode.Marshal(map[string]any{"info": info})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
