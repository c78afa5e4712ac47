package storage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestSymlinksStayInside (issue 12): symlinks already present in the download folder
// never lead a write, a read or a recheck out of it, whether they replace a file or a
// directory; a symlink that stays inside the folder is followed.
func TestSymlinksStayInside(t *testing.T) {
	fx := makeFixture(t, 5, 32<<10, 40_000, 30_000) // files t/a/fa and t/b/fb
	secret := bytes.Repeat([]byte("secret"), 1000)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir, outside string)
	}{
		{"file links out", func(t *testing.T, dir, outside string) {
			mustSymlink(t, filepath.Join(outside, "secret"), filepath.Join(dir, "t", "a", "fa"))
		}},
		{"directory links out", func(t *testing.T, dir, outside string) {
			os.RemoveAll(filepath.Join(dir, "t"))
			mustSymlink(t, outside, filepath.Join(dir, "t"))
		}},
		{"relative link climbs out", func(t *testing.T, dir, outside string) {
			rel, err := filepath.Rel(filepath.Join(dir, "t", "a"), filepath.Join(outside, "secret"))
			if err != nil {
				t.Fatal(err)
			}
			mustSymlink(t, rel, filepath.Join(dir, "t", "a", "fa"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(outside, "secret"), secret, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "t", "a"), 0o755); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir, outside)
			tr, err := Open(dir, fx.spec, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if err := tr.WriteBlock(0, 0, fx.block(0, 0)); err == nil {
				t.Error("a write through a symlink out of the folder succeeded")
			}
			buf := make([]byte, BlockSize)
			if err := tr.ReadBlock(0, 0, buf); err == nil {
				t.Error("a read through a symlink out of the folder succeeded")
			}
			have, _ := tr.Recheck(context.Background(), 1)
			for i, ok := range have {
				if ok {
					t.Errorf("recheck found piece %d through the symlink", i)
				}
			}
			got, err := os.ReadFile(filepath.Join(outside, "secret"))
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("the file outside changed: %v", err)
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Errorf("files were created outside the folder: %v", ents)
			}
		})
	}
	t.Run("link inside is followed", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "t", "a"), 0o755); err != nil {
			t.Fatal(err)
		}
		mustSymlink(t, filepath.Join("..", "..", "real"), filepath.Join(dir, "t", "a", "fa"))
		tr := open(t, dir, fx, Options{})
		download(t, tr, fx)
		got, err := os.ReadFile(filepath.Join(dir, "real"))
		if err != nil || !bytes.Equal(got, fx.content[:40_000]) {
			t.Fatalf("the file the inside link names: %d bytes, %v", len(got), err)
		}
	})
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
