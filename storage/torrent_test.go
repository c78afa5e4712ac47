package storage

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func TestOpenRejectsBadSpecs(t *testing.T) {
	good := makeFixture(t, 1, 32768, 40000)
	tests := []struct {
		name string
		edit func(s *Spec)
	}{
		{"dotdot", func(s *Spec) { s.Files[0].Path = []string{"..", "etc", "passwd"} }},
		{"dotdot inside", func(s *Spec) { s.Files[0].Path = []string{"a", "..", "..", "x"} }},
		{"absolute", func(s *Spec) { s.Files[0].Path = []string{"/etc/passwd"} }},
		{"slash in component", func(s *Spec) { s.Files[0].Path = []string{"a/../../b"} }},
		{"backslash", func(s *Spec) { s.Files[0].Path = []string{"..\\x"} }},
		{"empty component", func(s *Spec) { s.Files[0].Path = []string{"a", "", "b"} }},
		{"dot", func(s *Spec) { s.Files[0].Path = []string{"."} }},
		{"nul", func(s *Spec) { s.Files[0].Path = []string{"a\x00b"} }},
		{"empty path", func(s *Spec) { s.Files[0].Path = nil }},
		{"no files", func(s *Spec) { s.Files = nil }},
		{"negative length", func(s *Spec) { s.Files[0].Length = -1 }},
		{"too few hashes", func(s *Spec) { s.Hashes = s.Hashes[:1] }},
		{"too many hashes", func(s *Spec) { s.Hashes = append(s.Hashes, [20]byte{}) }},
		{"zero piece length", func(s *Spec) { s.PieceLength = 0 }},
		{"huge piece length", func(s *Spec) { s.PieceLength = 1 << 40 }},
		{"duplicate path", func(s *Spec) {
			s.Files = append(s.Files, File{Path: s.Files[0].Path, Length: 0})
		}},
		{"overflow", func(s *Spec) {
			s.Files = append(s.Files, File{Path: []string{"b"}, Length: 1 << 62})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := good.spec
			spec.Files = append([]File(nil), good.spec.Files...)
			spec.Files[0].Path = append([]string(nil), spec.Files[0].Path...)
			spec.Hashes = append([][20]byte(nil), spec.Hashes...)
			tc.edit(&spec)
			dir := t.TempDir()
			_, err := Open(filepath.Join(dir, "data"), spec, Options{})
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("err = %v, want ErrBadSpec", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("rejected spec created %v", ents)
			}
		})
	}
}

var layouts = []struct {
	name        string
	pieceLength int64
	lengths     []int64 // negative: pad file
}{
	{"single file", 32768, []int64{100000}},
	{"single file exact pieces", 32768, []int64{65536}},
	{"single short piece", 65536, []int64{5000}},
	{"multi file spanning", 32768, []int64{10000, 1, 0, 50000, 7, 33000}},
	{"pad files", 32768, []int64{20000, -12768, 32768, 100, -32668, 5}},
	{"odd piece length", 20000, []int64{30000, 30001}},
	{"many small files", 16384, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16384, 3}},
}

func TestWriteReadLayouts(t *testing.T) {
	for li, lt := range layouts {
		t.Run(lt.name, func(t *testing.T) {
			fx := makeFixture(t, uint64(li), lt.pieceLength, lt.lengths...)
			dir := t.TempDir()
			tr := open(t, dir, fx, Options{})
			// zero-length files exist at once, pad files never
			for _, f := range fx.spec.Files {
				p := filepath.Join(append([]string{dir}, f.Path...)...)
				_, err := os.Stat(p)
				if f.Pad && err == nil {
					t.Fatalf("pad file %s created", p)
				}
				if f.Length == 0 && !f.Pad && err != nil {
					t.Fatalf("empty file not created: %v", err)
				}
			}
			// every block in random order, some twice
			type blk struct{ i, j int }
			var all []blk
			for i := range fx.spec.Hashes {
				for j := 0; j < fx.blocks(i); j++ {
					all = append(all, blk{i, j})
					if (i+j)%3 == 0 {
						all = append(all, blk{i, j})
					}
				}
			}
			rng := rand.New(rand.NewPCG(uint64(li), 1))
			rng.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })
			verified := map[int]int{}
			for _, b := range all {
				res, err := tr.WriteBlockHashed(b.i, b.j*BlockSize, fx.block(b.i, b.j))
				if err != nil {
					t.Fatal(err)
				}
				if res == PieceFailed {
					t.Fatalf("piece %d failed with good data", b.i)
				}
				if res == PieceVerified {
					verified[b.i]++
				}
			}
			for i := range fx.spec.Hashes {
				if verified[i] != 1 || !tr.Have(i) {
					t.Fatalf("piece %d verified %d times, have %v", i, verified[i], tr.Have(i))
				}
			}
			// read back every piece, in odd-sized reads that cross block and file edges
			for i := range fx.spec.Hashes {
				size := int(tr.PieceSize(i))
				got := make([]byte, size)
				for off := 0; off < size; off += 7001 {
					n := min(7001, size-off)
					if err := tr.ReadBlock(i, off, got[off:off+n]); err != nil {
						t.Fatal(err)
					}
				}
				want := fx.content[int64(i)*lt.pieceLength:][:size]
				if !bytes.Equal(got, want) {
					t.Fatalf("piece %d read back differs", i)
				}
			}
			// the files on disk hold exactly their part of the stream
			var off int64
			for _, f := range fx.spec.Files {
				if !f.Pad {
					p := filepath.Join(append([]string{dir}, f.Path...)...)
					data, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(data, fx.content[off:off+f.Length]) {
						t.Fatalf("%s differs on disk", p)
					}
				}
				off += f.Length
			}
			if len(tr.hashing) != 0 {
				t.Fatalf("%d hashers left", len(tr.hashing))
			}
		})
	}
}

func TestRangeChecks(t *testing.T) {
	fx := makeFixture(t, 1, 32768, 40000)
	tr := open(t, t.TempDir(), fx, Options{})
	buf := make([]byte, 100)
	for _, tc := range []struct{ piece, begin, n int }{
		{-1, 0, 1}, {2, 0, 1}, {0, -1, 1}, {0, 32768 - 50, 100}, {1, 7232 - 10, 11}, {1, 0, 7233},
	} {
		if err := tr.ReadBlock(tc.piece, tc.begin, make([]byte, tc.n)); !errors.Is(err, ErrRange) {
			t.Errorf("ReadBlock %v: %v", tc, err)
		}
		if err := tr.WriteBlock(tc.piece, tc.begin, make([]byte, tc.n)); !errors.Is(err, ErrRange) {
			t.Errorf("WriteBlock %v: %v", tc, err)
		}
	}
	for _, tc := range []struct{ piece, begin, n int }{
		{0, 1, 16384}, {0, 0, 100}, {0, 16384, 16383}, {1, 0, 7231}, {1, 16384, 1}, {5, 0, 1},
	} {
		if _, err := tr.WriteBlockHashed(tc.piece, tc.begin, make([]byte, tc.n)); !errors.Is(err, ErrBadBlock) {
			t.Errorf("WriteBlockHashed %v: %v", tc, err)
		}
	}
	// reading a file that was never written is an error, and does not create it
	if err := tr.ReadBlock(0, 0, buf); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read of missing file: %v", err)
	}
	if _, err := os.Stat(tr.files[0].path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("read created the file")
	}
}

func TestCorruptPieceDetected(t *testing.T) {
	fx := makeFixture(t, 3, 32768, 70000)
	tr := open(t, t.TempDir(), fx, Options{})
	bad := bytes.Clone(fx.block(1, 1))
	bad[100] ^= 1
	if res, err := tr.WriteBlockHashed(1, BlockSize, bad); err != nil || res != BlockStored {
		t.Fatal(res, err)
	}
	res, err := tr.WriteBlockHashed(1, 0, fx.block(1, 0))
	if err != nil || res != PieceFailed || tr.Have(1) {
		t.Fatalf("corrupt piece: %v %v", res, err)
	}
	// the piece starts over: the good copy of both blocks now verifies it
	if res, _ := tr.WriteBlockHashed(1, 0, fx.block(1, 0)); res != BlockStored {
		t.Fatalf("after failure: %v", res)
	}
	if res, _ := tr.WriteBlockHashed(1, BlockSize, fx.block(1, 1)); res != PieceVerified {
		t.Fatalf("refetched piece: %v", res)
	}
	// smart ban: of the failed attempt, only block 1 differed from the good data
	if bad, err := tr.BadBlocks(1); err != nil || len(bad) != 1 || !slices.Equal(bad[0], []int{1}) {
		t.Fatalf("BadBlocks = %v, %v", bad, err)
	}
	if bad, err := tr.BadBlocks(1); bad != nil || err != nil {
		t.Fatalf("BadBlocks again = %v, %v", bad, err)
	}
	if _, err := tr.BadBlocks(0); !errors.Is(err, ErrNotHave) {
		t.Fatalf("BadBlocks of unverified piece: %v", err)
	}
	// a late copy of a verified piece is a duplicate and is not written
	if res, _ := tr.WriteBlockHashed(1, BlockSize, bad); res != BlockDuplicate {
		t.Fatalf("late block: %v", res)
	}
	if err := tr.WriteBlock(1, 0, bad); !errors.Is(err, ErrVerified) {
		t.Fatalf("raw write to verified piece: %v", err)
	}
	got := make([]byte, len(bad))
	tr.ReadBlock(1, BlockSize, got)
	if !bytes.Equal(got, fx.block(1, 1)) {
		t.Fatal("verified data was overwritten")
	}
}

// TestDuplicateCannotPoison: with two copies of a block in flight (endgame), the first
// one claimed is the one on disk and hashed; the other is reported as a duplicate.
func TestDuplicateCannotPoison(t *testing.T) {
	fx := makeFixture(t, 4, 32768, 32768)
	tr := open(t, t.TempDir(), fx, Options{})
	bad := bytes.Clone(fx.block(0, 1))
	bad[0] ^= 0xff
	tr.WriteBlockHashed(0, BlockSize, fx.block(0, 1))
	if res, _ := tr.WriteBlockHashed(0, BlockSize, bad); res != BlockDuplicate {
		t.Fatalf("second copy: %v", res)
	}
	if res, _ := tr.WriteBlockHashed(0, 0, fx.block(0, 0)); res != PieceVerified {
		t.Fatalf("piece: %v", res)
	}
	if ok, _ := tr.VerifyPiece(0); !ok {
		t.Fatal("disk does not hold the hashed bytes")
	}
}

func TestConcurrentWrites(t *testing.T) {
	fx := makeFixture(t, 5, 65536, 300000, 12345, 200000)
	tr := open(t, t.TempDir(), fx, Options{})
	type blk struct{ i, j int }
	var all []blk
	for i := range fx.spec.Hashes {
		for j := 0; j < fx.blocks(i); j++ {
			all = append(all, blk{i, j})
		}
	}
	const writers = 6
	var mu sync.Mutex
	verified := map[int]int{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		order := append([]blk(nil), all...)
		rng := rand.New(rand.NewPCG(uint64(w), 9))
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range order {
				res, err := tr.WriteBlockHashed(b.i, b.j*BlockSize, fx.block(b.i, b.j))
				if err != nil {
					t.Error(err)
					return
				}
				if res == PieceFailed {
					t.Errorf("piece %d failed", b.i)
				}
				if res == PieceVerified {
					mu.Lock()
					verified[b.i]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for i := range fx.spec.Hashes {
		if verified[i] != 1 {
			t.Fatalf("piece %d verified %d times", i, verified[i])
		}
	}
	have, err := tr.Recheck(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range have {
		if !h {
			t.Fatalf("piece %d bad on disk after concurrent writes", i)
		}
	}
}

func TestReadOnly(t *testing.T) {
	fx := makeFixture(t, 6, 32768, 40000, 0)
	dir := t.TempDir()
	tr := open(t, dir, fx, Options{ReadOnly: true})
	if _, err := tr.WriteBlockHashed(0, 0, fx.block(0, 0)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("read-only created %v", ents)
	}
	// the failed write left the block unclaimed
	tr.Close()
	tr2 := open(t, dir, fx, Options{})
	download(t, tr2, fx)
	tr2.Close()
	tr3 := open(t, dir, fx, Options{ReadOnly: true})
	if have, err := tr3.Recheck(t.Context(), 1); err != nil || !have[0] || !have[1] {
		t.Fatal(have, err)
	}
	if err := tr.ReadBlock(0, 0, make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
}

// TestCloseWhileBusy closes a torrent under concurrent reads, writes and sends: nothing
// panics or races, errors are closed-file errors, and no file descriptor is left open.
func TestCloseWhileBusy(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	fx := makeFixture(t, 15, 32768, 100000, 100000, 100000)
	dir := t.TempDir()
	seedTr := open(t, dir, fx, Options{})
	download(t, seedTr, fx)
	seedTr.Close()
	for round := 0; round < 20; round++ {
		before := fds()
		tr, err := Open(dir, fx.spec, Options{})
		if err != nil {
			t.Fatal(err)
		}
		tr.Recheck(t.Context(), 1)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, BlockSize)
				for i := 0; i < 200; i++ {
					p := (g + i) % (len(fx.spec.Hashes) - 1) // the last piece is short
					var err error
					if g%2 == 0 {
						err = tr.ReadBlock(p, 0, buf)
					} else {
						_, err = tr.SendBlock(io.Discard, nil, p, 0, BlockSize)
					}
					if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, os.ErrClosed) {
						t.Errorf("unexpected error: %v", err)
						return
					}
				}
			}()
		}
		tr.Close()
		wg.Wait()
		if after := fds(); after > before {
			t.Fatalf("round %d: %d descriptors open after Close, %d before", round, after, before)
		}
	}
}

func TestMaxOpenFiles(t *testing.T) {
	lengths := []int64{40000, 1, 50000, 30000, 16384, 70000, 5, 20000, 33333, 44444}
	fx := makeFixture(t, 16, 32768, lengths...)
	dir := t.TempDir()
	tr := open(t, dir, fx, Options{MaxOpenFiles: 2})
	type blk struct{ i, j int }
	var all []blk
	for i := range fx.spec.Hashes {
		for j := 0; j < fx.blocks(i); j++ {
			all = append(all, blk{i, j})
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		order := append([]blk(nil), all...)
		rand.New(rand.NewPCG(uint64(w), 1)).Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, BlockSize)
			for _, b := range order {
				if _, err := tr.WriteBlockHashed(b.i, b.j*BlockSize, fx.block(b.i, b.j)); err != nil {
					t.Error(err)
					return
				}
				if tr.Have(b.i) {
					tr.SendBlock(io.Discard, nil, b.i, 0, min(BlockSize, int(tr.PieceSize(b.i))))
					tr.ReadBlock(b.i, 0, buf[:1])
				}
			}
		}()
	}
	wg.Wait()
	if err := tr.SaveResume(filepath.Join(dir, "resume")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	for i := range fx.spec.Hashes {
		if !tr.Have(i) {
			t.Fatalf("piece %d not verified", i)
		}
		tr.ReadBlock(i, 0, buf)
	}
	tr.fmu.Lock()
	open, n := tr.open, 0
	for f := tr.lru; f != nil; f = f.next {
		n++
		if f.next == tr.lru {
			break
		}
	}
	tr.fmu.Unlock()
	if open > 2 || n != open {
		t.Fatalf("%d handles open (%d in the LRU list), cap 2", open, n)
	}
	have, err := open2(t, dir, fx).Recheck(t.Context(), 2)
	if err != nil || slices.Contains(have, false) {
		t.Fatalf("recheck: %v %v", have, err)
	}
}

func open2(t *testing.T, dir string, fx fixture) *Torrent {
	return open(t, dir, fx, Options{MaxOpenFiles: 1, ReadOnly: true})
}
