package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// TronwebDir returns the directory where scripts/test.sh installed the pinned tronweb
// (scripts/tronweb/package.json) with npm: $BTT_TRONWEB_DIR, else ~/.cache/btt-tronweb. It
// skips the test (fails it in CI) when tronweb or node is missing.
func TronwebDir(t testing.TB) string {
	t.Helper()
	NeedTool(t, "node")
	d := os.Getenv("BTT_TRONWEB_DIR")
	if d == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			missing(t, "no BTT_TRONWEB_DIR and no home directory: %v", err)
		}
		d = filepath.Join(home, ".cache", "btt-tronweb")
	}
	if _, err := os.Stat(filepath.Join(d, "node_modules", "tronweb", "package.json")); err != nil {
		missing(t, "tronweb not installed in %s (scripts/test.sh installs it): %v", d, err)
	}
	return d
}
