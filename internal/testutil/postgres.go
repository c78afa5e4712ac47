package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Postgres is a private PostgreSQL server for one test: its own data directory under a
// temporary directory, listening on 127.0.0.1 on a free port (inside the test's network
// namespace), stopped when the test ends. Debian's postgresql package provides the server
// (scripts/test.sh installs it); a test that needs it fails in CI when it is absent.
//
// PostgreSQL refuses to run as root, so as root the server runs as the "postgres" user
// (setpriv); otherwise as the current user.
type Postgres struct {
	// URL is what pgx (and btt-ledger --db) accepts: postgres://btt@127.0.0.1:PORT/postgres.
	URL  string
	Port int

	bin, dir, data string
	cred           *syscall.Credential

	mu  sync.Mutex
	cmd *exec.Cmd
	log bytes.Buffer
}

// PostgresBin returns the directory of the newest installed PostgreSQL server binaries.
func PostgresBin(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
	}
	missing(t, "PostgreSQL server (Debian package postgresql) not installed")
	return ""
}

// StartPostgres initialises and starts a server; it is stopped (and its files removed) when
// t ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p := &Postgres{bin: PostgresBin(t)}
	dir, err := os.MkdirTemp("", "btt-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir, p.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() {
		p.Stop(t)
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "running as root and no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	initdb := p.command("initdb", "-D", p.data, "-U", "btt", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Port = FreePort(t, "127.0.0.1")
	p.URL = fmt.Sprintf("postgres://btt@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
	p.Start(t)
	return p
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// Start starts the server (again, after Stop or Crash) and waits until it accepts
// connections.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	p.log.Reset()
	// fsync stays on: the ledger's tests are about durability. Small buffers and few
	// connections: the machine is shared.
	cmd := p.command("postgres", "-D", p.data, "-p", strconv.Itoa(p.Port), "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "shared_buffers=32MB", "-c", "max_connections=60",
		"-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	p.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := p.command("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-t", "1").Run()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not come up: %v\n%s", err, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down cleanly (fast shutdown: open sessions are ended).
func (p *Postgres) Stop(t testing.TB) { p.signal(t, syscall.SIGINT) }

// Crash stops the server the way a crash would (immediate shutdown: no checkpoint; the
// next Start replays the write-ahead log).
func (p *Postgres) Crash(t testing.TB) { p.signal(t, syscall.SIGQUIT) }

func (p *Postgres) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
}

// SQL runs statements with psql as the server's superuser and returns the output.
func (p *Postgres) SQL(t testing.TB, sql string) string {
	t.Helper()
	out, err := p.command("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
		"-p", strconv.Itoa(p.Port), "-U", "btt", "-d", "postgres", "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return string(bytes.TrimSpace(out))
}
