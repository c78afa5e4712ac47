package wallet

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteNewSyncsFileAndDir (issue 12): a wallet (and the ledger's treasury key, saved
// the same way) is fsynced, then its directory, after the name is in place; no temporary
// file is left behind, and an existing file is never replaced.
func TestWriteNewSyncsFileAndDir(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.json")
	var synced []string
	sync := func(f *os.File) error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("directory synced before the wallet's name was in place: %v", err)
			}
			synced = append(synced, "dir")
		} else {
			synced = append(synced, "file")
		}
		return f.Sync()
	}
	if err := writeNew(path, []byte("key"), sync); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 2 || synced[0] != "file" || synced[1] != "dir" {
		t.Fatalf("synced %v, want [file dir]", synced)
	}
	if err := writeNew(path, []byte("other"), sync); err == nil {
		t.Fatal("an existing wallet was replaced")
	}
	if b, _ := os.ReadFile(path); string(b) != "key" {
		t.Fatalf("wallet holds %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("left in the directory: %v", ents)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}
