package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRecheckAfterDamage(t *testing.T) {
	// a = [0,40000) b = [40000,90000) c = [90000,100000); pieces: 0 = a, 1 = a|b, 2 = b|c, 3 = c (short)
	fx := makeFixture(t, 21, 32768, 40000, 50000, 10000)
	dir := t.TempDir()
	tr := open(t, dir, fx, Options{})
	have, err := tr.Recheck(t.Context(), 3)
	if err != nil || slices.Contains(have, true) {
		t.Fatalf("empty dir: %v %v", have, err)
	}
	download(t, tr, fx)
	tr.Close()
	paths := func(i int) string { return filepath.Join(append([]string{dir}, fx.spec.Files[i].Path...)...) }
	tests := []struct {
		name   string
		damage func(t *testing.T)
		want   []bool
	}{
		{"intact", func(t *testing.T) {}, []bool{true, true, true, true}},
		{"truncate b", func(t *testing.T) {
			if err := os.Truncate(paths(1), 30000); err != nil {
				t.Fatal(err)
			}
		}, []bool{true, true, false, true}},
		{"remove c", func(t *testing.T) { os.Remove(paths(2)) }, []bool{true, true, false, false}},
		{"flip a byte in a", func(t *testing.T) {
			f, _ := os.OpenFile(paths(0), os.O_RDWR, 0)
			f.WriteAt([]byte{fx.content[39999] ^ 1}, 39999)
			f.Close()
		}, []bool{true, false, true, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := open(t, dir, fx, Options{})
			download(t, d, fx) // repair from the previous case
			d.Close()
			tc.damage(t)
			tr := open(t, dir, fx, Options{ReadOnly: true})
			have, err := tr.Recheck(t.Context(), 2)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(have, tc.want) {
				t.Fatalf("have %v, want %v", have, tc.want)
			}
		})
	}
	// a cancelled recheck says so
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := open(t, dir, fx, Options{}).Recheck(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled recheck: %v", err)
	}
}

func TestResumeFile(t *testing.T) {
	fx := makeFixture(t, 22, 32768, 40000, 0, 50000)
	dir := t.TempDir()
	resume := filepath.Join(dir, "resume.json")
	tr := open(t, dir, fx, Options{})
	for _, i := range []int{0, 2} {
		for j := 0; j < fx.blocks(i); j++ {
			tr.WriteBlockHashed(i, j*BlockSize, fx.block(i, j))
		}
	}
	// half of piece 1 is written but not verified: it must not be listed
	tr.WriteBlockHashed(1, 0, fx.block(1, 0))
	if err := tr.SaveResume(resume); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	want := []bool{true, false, true}

	fresh := func() *Torrent { return open(t, dir, fx, Options{}) }
	ok, err := fresh().LoadResume(filepath.Join(dir, "missing"))
	if ok || err != nil {
		t.Fatalf("missing resume file: %v %v", ok, err)
	}
	tr = fresh()
	if ok, err := tr.LoadResume(resume); !ok || err != nil || !slices.Equal(tr.Pieces(), want) {
		t.Fatalf("load: %v %v %v", ok, err, tr.Pieces())
	}
	have, rechecked, err := fresh().Resume(t.Context(), resume, 2)
	if err != nil || rechecked || !slices.Equal(have, want) {
		t.Fatalf("Resume: %v %v %v", have, rechecked, err)
	}

	other := makeFixture(t, 23, 32768, 40000, 0, 50000)
	mismatches := []struct {
		name string
		tr   func() *Torrent
		edit func(t *testing.T)
	}{
		{"other torrent", func() *Torrent { return open(t, dir, other, Options{}) }, func(*testing.T) {}},
		{"corrupt json", fresh, func(t *testing.T) { os.WriteFile(resume, []byte(`{"version":1,`), 0o644) }},
		{"wrong version", fresh, func(t *testing.T) { rewrite(t, resume, `"version":1`, `"version":9`) }},
		{"spare bits", fresh, func(t *testing.T) { rewrite(t, resume, `"have":"oA=="`, `"have":"oQ=="`) }},
		{"mtime changed", fresh, func(t *testing.T) {
			os.Chtimes(filepath.Join(append([]string{dir}, fx.spec.Files[2].Path...)...), time.Now(), time.Unix(1e9, 0))
		}},
		{"size changed", fresh, func(t *testing.T) {
			os.Truncate(filepath.Join(append([]string{dir}, fx.spec.Files[0].Path...)...), 100)
		}},
		{"file removed", fresh, func(t *testing.T) {
			os.Remove(filepath.Join(append([]string{dir}, fx.spec.Files[2].Path...)...))
		}},
	}
	for _, tc := range mismatches {
		t.Run(tc.name, func(t *testing.T) {
			// start each case from a valid resume file over intact data
			d := fresh()
			for _, i := range []int{0, 2} {
				for j := 0; j < fx.blocks(i); j++ {
					d.WriteBlock(i, j*BlockSize, fx.block(i, j))
				}
			}
			d.VerifyPiece(0)
			d.VerifyPiece(2)
			if err := d.SaveResume(resume); err != nil {
				t.Fatal(err)
			}
			d.Close()
			tc.edit(t)
			tr := tc.tr()
			ok, err := tr.LoadResume(resume)
			if ok || !errors.Is(err, ErrResumeMismatch) || slices.Contains(tr.Pieces(), true) {
				t.Fatalf("LoadResume = %v, %v (pieces %v)", ok, err, tr.Pieces())
			}
			have, rechecked, err := tc.tr().Resume(t.Context(), resume, 2)
			if err != nil || !rechecked {
				t.Fatalf("Resume: %v rechecked %v", err, rechecked)
			}
			for i, h := range have {
				if h && !want[i] {
					t.Fatalf("recheck found piece %d", i)
				}
			}
		})
	}
}

func rewrite(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %s: %s", path, old, b)
	}
	os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
}

// killFixture is the torrent the kill -9 test's child downloads.
func killFixture(t testing.TB) fixture { return makeFixture(t, 31, 65536, 900000, 5000, 700000) }

// TestKillChild is the child of TestKill9Resume: it downloads into the directory named by
// BTT_STORAGE_KILL_DIR, saving resume data now and then and printing what it saved, until
// it is killed.
func TestKillChild(t *testing.T) {
	dir := os.Getenv("BTT_STORAGE_KILL_DIR")
	if dir == "" {
		t.Skip("helper process for TestKill9Resume")
	}
	mode := os.Getenv("BTT_STORAGE_KILL_MODE")
	fx := killFixture(t)
	tr, err := Open(dir, fx.spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	order := rand.New(rand.NewPCG(5, 5)).Perm(len(fx.spec.Hashes))
	for n, i := range order {
		for j := fx.blocks(i) - 1; j >= 0; j-- { // reverse: exercise out-of-order hashing
			if _, err := tr.WriteBlockHashed(i, j*BlockSize, fx.block(i, j)); err != nil {
				t.Fatal(err)
			}
		}
		if n == len(order)/2 {
			if err := tr.SaveResume(filepath.Join(dir, "resume")); err != nil {
				t.Fatal(err)
			}
			var saved []string
			for p, h := range tr.Pieces() {
				if h {
					saved = append(saved, strconv.Itoa(p))
				}
			}
			fmt.Printf("saved %s\n", strings.Join(saved, ","))
			if mode == "idle" {
				fmt.Println("ready")
				time.Sleep(time.Minute)
			}
		}
		if n == len(order)/2+3 {
			// half-written piece in flight when killed
			tr.WriteBlockHashed(order[n+1], 0, fx.block(order[n+1], 0))
			fmt.Println("ready")
			time.Sleep(time.Minute)
		}
	}
}

// TestKill9Resume kills a downloading process with SIGKILL and checks that the restart
// keeps every piece the resume file listed, and that every piece it reports is good.
func TestKill9Resume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	fx := killFixture(t)
	for _, mode := range []string{"idle", "busy"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKillChild$", "-test.v")
			cmd.Env = append(os.Environ(), "BTT_STORAGE_KILL_DIR="+dir, "BTT_STORAGE_KILL_MODE="+mode)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var saved []int
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				if s, ok := strings.CutPrefix(line, "saved "); ok {
					for _, f := range strings.Split(s, ",") {
						i, _ := strconv.Atoi(f)
						saved = append(saved, i)
					}
				}
				if line == "ready" {
					break
				}
			}
			cmd.Process.Kill() // SIGKILL
			cmd.Wait()
			if len(saved) == 0 {
				t.Fatal("child saved nothing")
			}
			tr := open(t, dir, fx, Options{})
			have, rechecked, err := tr.Resume(t.Context(), filepath.Join(dir, "resume"), 2)
			if err != nil {
				t.Fatal(err)
			}
			if mode == "idle" && rechecked {
				t.Fatal("unchanged files after kill -9 should resume without recheck")
			}
			for _, i := range saved {
				if !have[i] {
					t.Fatalf("piece %d listed before the kill is lost", i)
				}
			}
			// everything reported is really on disk (independent check through a fresh torrent)
			check := open(t, dir, fx, Options{ReadOnly: true})
			real, err := check.Recheck(t.Context(), 2)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for i, h := range have {
				if h && !real[i] {
					t.Fatalf("piece %d reported but bad on disk", i)
				}
				if h {
					n++
				}
			}
			t.Logf("%s: %d pieces saved, %d verified after restart (rechecked %v)", mode, len(saved), n, rechecked)
		})
	}
}

// TestResumePartialTrust: after a crash some files changed since the last save. Resume
// trusts listed pieces lying wholly in unchanged files and rehashes only pieces touching
// changed ones. Piece 0's file is altered with its time put back, which resume data
// cannot see: its piece stays trusted, which shows it was not rehashed.
func TestResumePartialTrust(t *testing.T) {
	// a = [0,40000) c = [40000,90000); pieces: 0 = a, 1 = a|c, 2 = c
	fx := makeFixture(t, 24, 32768, 40000, 0, 50000)
	dir := t.TempDir()
	resume := filepath.Join(dir, "resume")
	tr := open(t, dir, fx, Options{})
	download(t, tr, fx)
	if err := tr.SaveResume(resume); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	pathOf := func(i int) string { return filepath.Join(append([]string{dir}, fx.spec.Files[i].Path...)...) }
	flip := func(p string, off int64) {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		f.ReadAt(b, off)
		b[0] ^= 1
		f.WriteAt(b, off)
		f.Close()
	}
	st, _ := os.Stat(pathOf(0))
	flip(pathOf(0), 100)
	os.Chtimes(pathOf(0), st.ModTime(), st.ModTime())
	flip(pathOf(2), 40000) // torrent offset 80000: piece 2
	os.Chtimes(pathOf(2), time.Now(), time.Unix(2e9, 0))

	have, rechecked, err := open(t, dir, fx, Options{}).Resume(t.Context(), resume, 2)
	if err != nil || !rechecked {
		t.Fatal(err, rechecked)
	}
	if want := []bool{true, true, false}; !slices.Equal(have, want) {
		t.Fatalf("have %v, want %v", have, want)
	}
	// LoadResume alone stays all-or-nothing
	if ok, err := open(t, dir, fx, Options{}).LoadResume(resume); ok || !errors.Is(err, ErrResumeMismatch) {
		t.Fatalf("LoadResume: %v %v", ok, err)
	}
}
