package metainfo

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// writeTree creates files (relative path -> size) of pseudo-random bytes under a new
// directory and returns it.
func writeTree(t testing.TB, files map[string]int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "content")
	rng := rand.New(rand.NewPCG(1, 2))
	for p, n := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// streamOf returns the torrent's byte stream read back from disk (zeros for pads), an
// independent way to check the piece hashes.
func streamOf(t *testing.T, root string, info *Info) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, f := range info.Files {
		if f.Pad {
			buf.Write(make([]byte, f.Length))
			continue
		}
		p := root
		if info.IsMultiFile() {
			p = filepath.Join(append([]string{root}, f.Path[1:]...)...)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	return buf.Bytes()
}

func checkPieces(t *testing.T, root string, info *Info) {
	t.Helper()
	stream := streamOf(t, root, info)
	if int64(len(stream)) != info.TotalLength {
		t.Fatalf("stream %d bytes, TotalLength %d", len(stream), info.TotalLength)
	}
	for i, h := range info.Pieces {
		end := min(int64(i+1)*info.PieceLength, int64(len(stream)))
		if want := sha1.Sum(stream[int64(i)*info.PieceLength : end]); h != want {
			t.Fatalf("piece %d hash %x, want %x", i, h, want)
		}
	}
}

func TestCreate(t *testing.T) {
	files := map[string]int{
		"b.bin": 100000, "sub/a.bin": 300000, "A.txt": 3, "empty": 0, ".hidden": 7,
		"sub.txt": 1, "sub-x": 2, "sub/deeper/z": 40000,
	}
	root := writeTree(t, files)
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		path      string
		opts      CreateOptions
		wantFiles []string
	}{
		{
			name: "multi, mktorrent order",
			path: root,
			opts: CreateOptions{PieceLength: 32 << 10},
			// Sorted bytewise by joined path: '-' < '.' < '/'.
			wantFiles: []string{"content/.hidden", "content/A.txt", "content/b.bin", "content/empty",
				"content/sub-x", "content/sub.txt", "content/sub/a.bin", "content/sub/deeper/z"},
		},
		{
			name: "multi with pads, private, trackers, one worker",
			path: root,
			opts: CreateOptions{PieceLength: 16 << 10, PadFiles: true, Private: true, Workers: 1,
				Trackers: [][]string{{"http://a/"}, {"http://b/", "udp://c:1"}}, WebSeeds: []string{"http://w/"},
				Comment: "c", CreatedBy: "btt test", CreationDate: date, Source: "SRC", Name: "renamed"},
		},
		{
			name:      "single file",
			path:      filepath.Join(root, "sub", "a.bin"),
			opts:      CreateOptions{PieceLength: 16 << 10, Trackers: [][]string{{"http://a/"}}},
			wantFiles: []string{"a.bin"},
		},
		{
			name:      "single empty file",
			path:      filepath.Join(root, "empty"),
			wantFiles: []string{"empty"},
		},
		{
			name: "auto piece length",
			path: root,
		},
		{
			// Tree order: per component, so "sub/..." sorts before "sub-x" and "sub.txt".
			name: "hybrid",
			path: root,
			opts: CreateOptions{PieceLength: 16 << 10, Hybrid: true},
			wantFiles: []string{"content/.hidden", "content/A.txt", "content/b.bin", "content/empty",
				"content/sub/a.bin", "content/sub/deeper/z", "content/sub-x", "content/sub.txt"},
		},
		{
			name:      "hybrid single",
			path:      filepath.Join(root, "sub", "a.bin"),
			opts:      CreateOptions{PieceLength: 32 << 10, Hybrid: true},
			wantFiles: []string{"a.bin"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Create(context.Background(), tt.path, tt.opts)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			info := m.Info
			checkPieces(t, tt.path, info)
			var names []string
			var content int64
			for _, f := range info.Files {
				if !f.Pad {
					names = append(names, strings.Join(f.Path, "/"))
					content += f.Length
				}
			}
			if tt.wantFiles != nil {
				if diff := cmp.Diff(tt.wantFiles, names); diff != "" {
					t.Errorf("files (-want +got):\n%s", diff)
				}
			}
			if tt.opts.PieceLength == 0 && info.PieceLength != AutoPieceLength(content) {
				t.Errorf("piece length %d, want auto %d", info.PieceLength, AutoPieceLength(content))
			}
			if _, v2 := m.InfoHashV2(); v2 != tt.opts.Hybrid {
				t.Errorf("v2 = %v", v2)
			}
			if tt.opts.Hybrid && len(m.PieceLayers) == 0 {
				t.Error("hybrid torrent without piece layers")
			}
			if tt.opts.PadFiles || tt.opts.Hybrid {
				for i, f := range info.Files {
					if i > 0 && !f.Pad && f.Offset%info.PieceLength != 0 && info.Files[i-1].Length > 0 {
						t.Errorf("file %v at offset %d is not piece-aligned", f.Path, f.Offset)
					}
				}
			}
			if info.Private != tt.opts.Private || info.Source != tt.opts.Source {
				t.Errorf("private %v source %q", info.Private, info.Source)
			}
			if tt.opts.Name != "" && info.Name != tt.opts.Name {
				t.Errorf("name %q", info.Name)
			}

			// What is written parses back to the same thing.
			enc, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(enc)
			if err != nil {
				t.Fatalf("Parse(Encode()): %v", err)
			}
			if diff := cmp.Diff(m, back, cmp.AllowUnexported(Info{})); diff != "" {
				t.Errorf("round trip (-created +parsed):\n%s", diff)
			}
			switch n := len(tt.opts.Trackers); {
			case n == 1 && m.AnnounceList != nil:
				t.Error("one tracker should not write announce-list (mktorrent does not)")
			case n > 1 && m.Announce != tt.opts.Trackers[0][0]:
				t.Errorf("announce %q", m.Announce)
			}
		})
	}
}

func TestCreateWorkersAgree(t *testing.T) {
	root := writeTree(t, map[string]int{"a": 5 << 20, "b": 123457, "c/d": 1})
	var first [20]byte
	for i, w := range []int{1, 2, 5} {
		m, err := Create(context.Background(), root, CreateOptions{PieceLength: 16 << 10, Workers: w, PadFiles: i == 2})
		if err != nil {
			t.Fatal(err)
		}
		checkPieces(t, root, m.Info)
		if i == 0 {
			first = m.InfoHash()
		} else if i == 1 && m.InfoHash() != first {
			t.Errorf("workers=%d gives hash %x, workers=1 %x", w, m.InfoHash(), first)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	root := writeTree(t, map[string]int{"a": 10})
	emptyDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		path string
		opts CreateOptions
		want error
	}{
		{"missing", context.Background(), filepath.Join(root, "nope"), CreateOptions{}, os.ErrNotExist},
		{"empty dir", context.Background(), emptyDir, CreateOptions{}, ErrNoFiles},
		{"piece length not power of two", context.Background(), root, CreateOptions{PieceLength: 20000}, ErrPieceLength},
		{"piece length too small", context.Background(), root, CreateOptions{PieceLength: 8192}, ErrPieceLength},
		{"bad name", context.Background(), root, CreateOptions{Name: "a/b"}, ErrUnsafePath},
		{"cancelled", ctx, root, CreateOptions{}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Create(tt.ctx, tt.path, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAutoPieceLength(t *testing.T) {
	tests := []struct{ total, want int64 }{
		{0, 16 << 10},
		{1, 16 << 10},
		{2048 * 16 << 10, 16 << 10},
		{2048*16<<10 + 1, 32 << 10},
		{1 << 30, 512 << 10},
		{1 << 40, 16 << 20},
	}
	for _, tt := range tests {
		if got := AutoPieceLength(tt.total); got != tt.want {
			t.Errorf("AutoPieceLength(%d) = %d, want %d", tt.total, got, tt.want)
		}
	}
}

func BenchmarkCreate(b *testing.B) {
	root := writeTree(b, map[string]int{"a": 32 << 20, "b": 16 << 20})
	for _, bc := range []struct {
		name string
		opts CreateOptions
	}{
		{"v1", CreateOptions{PieceLength: 256 << 10}},
		{"hybrid", CreateOptions{PieceLength: 256 << 10, Hybrid: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(48 << 20)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Create(context.Background(), root, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestCreateSymlinks(t *testing.T) {
	root := writeTree(t, map[string]int{"real/a": 100, "b": 7})
	// A link to a file is followed; a link to a directory (here a loop) is skipped.
	if err := os.Symlink("b", filepath.Join(root, "link-to-b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".", filepath.Join(root, "real", "loop")); err != nil {
		t.Fatal(err)
	}
	m, err := Create(context.Background(), root, CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range m.Info.Files {
		got = append(got, strings.Join(f.Path, "/"))
	}
	if diff := cmp.Diff([]string{"content/b", "content/link-to-b", "content/real/a"}, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	checkPieces(t, root, m.Info)
}

// TestStreamReaderShortFile: a file that is shorter than listed (it shrank after the walk)
// makes hashing fail instead of hashing zeros or hanging.
func TestStreamReaderShortFile(t *testing.T) {
	root := writeTree(t, map[string]int{"a": 10})
	srcs := []source{{filepath.Join(root, "a"), 20}}
	_, _, err := hashPieces(context.Background(), srcs, 20, 16<<10, hashOptions{workers: 2})
	if err == nil || !strings.Contains(err.Error(), "shorter") {
		t.Errorf("err = %v, want a shrunk-file error", err)
	}
}

func TestCreateProgress(t *testing.T) {
	root := writeTree(t, map[string]int{"a": 9 << 20, "b": 5})
	var calls []int64
	var total int64
	m, err := Create(context.Background(), root, CreateOptions{PieceLength: 16 << 10, PadFiles: true,
		Progress: func(done, tot int64) { calls = append(calls, done); total = tot }})
	if err != nil {
		t.Fatal(err)
	}
	if total != m.Info.TotalLength || len(calls) < 3 || calls[len(calls)-1] != total {
		t.Fatalf("progress calls %v, total %d, want %d at the end", calls, total, m.Info.TotalLength)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i] <= calls[i-1] {
			t.Fatalf("progress went backwards: %v", calls)
		}
	}
}
