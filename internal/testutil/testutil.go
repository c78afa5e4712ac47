// Package testutil holds the helpers that tests across the module share: finding the
// reference vectors in ../shared, requiring third-party tools, building the project's
// binaries once per test process, and picking loopback ports.
package testutil

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testutil: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir returns the project's shared/ directory (the one beside the clone). Set
// BTT_SHARED to override. Tests that need it fail in CI and skip elsewhere when it is absent.
func SharedDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("BTT_SHARED"); d != "" {
		return d
	}
	d := filepath.Join(ModuleRoot(t), "..", "shared")
	if _, err := os.Stat(d); err != nil {
		missing(t, "shared/ directory %s: %v", d, err)
	}
	return d
}

// Vector returns the bytes of a reference vector, named by its path below shared/vectors.
func Vector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(SharedDir(t), "vectors", name))
	if err != nil {
		t.Fatalf("vector %s: %v", name, err)
	}
	return b
}

// InCI reports whether the tests run under CI, where a missing tool is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") != "" }

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("required in CI: "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

// NeedTool returns the path of an external program, or skips the test (fails it in CI).
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "tool %q not installed", name)
	}
	return p
}

// Python is Debian's interpreter, the one python3-libtorrent is built for.
const Python = "/usr/bin/python3"

// NeedLibtorrent skips the test (fails it in CI) unless Debian's python3 can import libtorrent.
func NeedLibtorrent(t testing.TB) {
	t.Helper()
	if err := exec.Command(Python, "-c", "import libtorrent").Run(); err != nil {
		missing(t, "python3-libtorrent not importable: %v", err)
	}
}

var builds struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

// BuildCmd builds ./cmd/NAME of this module once per test process and returns the binary.
func BuildCmd(t testing.TB, name string) string {
	t.Helper()
	builds.Lock()
	defer builds.Unlock()
	if p, ok := builds.bins[name]; ok {
		return p
	}
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "btt-bin-")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir = d
		builds.bins = map[string]string{}
	}
	out := filepath.Join(builds.dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = ModuleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, stderr.String())
	}
	builds.bins[name] = out
	return out
}

// FreePort returns a TCP port on ip that was free a moment ago (the kernel picked it).
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeUDPPort returns a UDP port on ip that was free a moment ago.
func FreeUDPPort(t testing.TB, ip string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Addr joins an IP and port.
func Addr(ip string, port int) string { return net.JoinHostPort(ip, fmt.Sprint(port)) }
