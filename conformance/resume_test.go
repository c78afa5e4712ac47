package conformance

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
)

var (
	progressRe = regexp.MustCompile(`(\d+)/(\d+) pieces`)
	onDiskRe   = regexp.MustCompile(`(\d+) already on disk`)
	completeRe = regexp.MustCompile(`downloaded (\d+) bytes this run`)
)

// TestKill9Resume: `btt download` killed with SIGKILL half way through restarts and
// finishes without fetching again the pieces it had verified.
func TestKill9Resume(t *testing.T) {
	btt := testutil.BuildCmd(t, "btt")
	dir := t.TempDir()
	root := thirdparty.WriteFiles(t, filepath.Join(dir, "k9"), []thirdparty.File{{Path: "big.bin", Size: 16 << 20}, {Path: "small.bin", Size: 99_999}})
	torrent := filepath.Join(dir, "k9.torrent")
	run(t, btt, "create", "-o", torrent, "--piece-length", "65536", root)

	port := testutil.FreePort(t, "127.0.0.1")
	seedAddr := testutil.Addr("127.0.0.1", port)
	// 4 MB/s makes the 16 MiB download take about 4 s, long enough to kill it half way.
	seed := exec.Command(btt, "seed", torrent, "--data", dir, "--listen", seedAddr, "--upload-limit", "4000000")
	startBackground(t, seed)

	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dl := exec.CommandContext(ctx, btt, "download", torrent, "--data", out, "--peer", seedAddr, "--progress-interval", "50ms")
	stdout, err := dl.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dl.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	killedAt, total := -1, 0
	for sc.Scan() {
		m := progressRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		done, _ := strconv.Atoi(m[1])
		total, _ = strconv.Atoi(m[2])
		if done >= total/2 {
			dl.Process.Signal(syscall.SIGKILL)
			killedAt = done
			break
		}
	}
	dl.Wait()
	if killedAt < 0 {
		t.Fatal("download ended before it reached half way")
	}
	if killedAt == total {
		t.Fatal("download finished before it could be killed; slow the seeder down")
	}
	t.Logf("killed at %d of %d pieces", killedAt, total)

	// Restart: it must find at least what it had reported verified, and fetch only the rest.
	res := runOutput(t, btt, "download", torrent, "--data", out, "--peer", seedAddr, "--progress-interval", "1s")
	m := onDiskRe.FindStringSubmatch(res)
	if m == nil {
		t.Fatalf("restart printed no recheck count:\n%s", res)
	}
	onDisk, _ := strconv.Atoi(m[1])
	if onDisk < killedAt {
		t.Fatalf("restart found %d verified pieces on disk, but %d were verified before the kill", onDisk, killedAt)
	}
	c := completeRe.FindStringSubmatch(res)
	if c == nil {
		t.Fatalf("restart did not complete:\n%s", res)
	}
	got, _ := strconv.ParseInt(c[1], 10, 64)
	if limit := int64(total-onDisk) * 65536; got > limit {
		t.Errorf("restart downloaded %d bytes; only %d pieces (%d bytes) were missing", got, total-onDisk, limit)
	}
	t.Logf("restart: %d pieces on disk, downloaded %d bytes for the other %d", onDisk, got, total-onDisk)
	sameFiles(t, root, filepath.Join(out, "k9"))
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	runOutput(t, name, args...)
}

func runOutput(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// startBackground runs cmd until the test ends; its output is shown if the test fails. It
// returns the path of the file the output goes to.
func startBackground(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), b)
		}
		log.Close()
	})
	return log.Name()
}

func sameFiles(t *testing.T, want, got string) {
	t.Helper()
	err := filepath.WalkDir(want, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil || string(a) != string(b) {
			t.Errorf("%s differs: %v", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(fmt.Errorf("comparing trees: %w", err))
	}
}
