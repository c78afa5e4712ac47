package thirdparty

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a tool gets to exit after SIGTERM before it is killed.
const stopGrace = 3 * time.Second

// logTail bounds how much of a tool's log is copied into the test log on failure:
// enough for the last few hundred lines, not so much that it buries the failure.
const logTail = 64 << 10

// proc is one running third-party program. Its stdout and stderr go to a log file
// (unless the caller takes stdout), which is dumped into the test log when the
// test fails. It is killed at test cleanup if it is still running.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File

	done    chan struct{} // closed when the process has been waited for
	waitErr error         // valid after done is closed

	stopOnce sync.Once
}

// startProc starts cmd, logging to a file in dir. If takeStdout is true the
// caller must have set cmd.Stdout (or left it nil to discard it). Cleanup stops the process (SIGTERM,
// then SIGKILL) and, if the test failed, logs the tail of its log.
func startProc(t testing.TB, name, dir string, cmd *exec.Cmd, takeStdout bool) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("%s: log file: %v", name, err)
	}
	if !takeStdout {
		cmd.Stdout = f
	}
	cmd.Stderr = f
	setProcAttr(cmd)
	fmt.Fprintf(f, "# %s\n", cmd.String())
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("%s: start %s: %v", name, cmd.Path, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, logFile: f, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLog(t)
		}
		f.Close()
	})
	return p
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM to its process group, SIGKILL after stopGrace.
// It returns once the process has been reaped. Safe to call more than once.
func (p *proc) stop() {
	p.stopOnce.Do(func() {
		if p.exited() {
			return
		}
		signalGroup(p.cmd, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			signalGroup(p.cmd, syscall.SIGKILL)
			<-p.done
		}
	})
	// A tool may leave children (a finish script) in its group; kill them too.
	signalGroup(p.cmd, syscall.SIGKILL)
}

// wait waits for the process to exit on its own, bounded by ctx.
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		return fmt.Errorf("%s: still running: %w", p.name, ctx.Err())
	}
}

// cpuSeconds is the user+system CPU time of the process and its reaped
// children, valid only after it has exited.
func (p *proc) cpuSeconds() float64 {
	st := p.cmd.ProcessState
	if st == nil {
		return 0
	}
	return (st.UserTime() + st.SystemTime()).Seconds()
}

// dumpLog copies the tail of the tool's log into the test log.
func (p *proc) dumpLog(t testing.TB) {
	t.Helper()
	b, err := readTail(p.logPath, logTail)
	if err != nil {
		t.Logf("%s: cannot read log: %v", p.name, err)
		return
	}
	t.Logf("---- %s log (%s, last %d bytes) ----\n%s\n---- end of %s log ----", p.name, p.logPath, len(b), b, p.name)
}

func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := st.Size() - n
	if off < 0 {
		off = 0
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, n))
}

// waitFile polls for path to exist, bounded by ctx, failing early if the
// process that should create it has exited.
func waitFile(ctx context.Context, p *proc, path string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w", p.name, filepath.Base(path), ctx.Err())
		case <-p.done:
			if _, err := os.Stat(path); err == nil {
				return nil
			}
			return fmt.Errorf("%s: exited (%v) before %s appeared", p.name, p.waitErr, filepath.Base(path))
		case <-tick.C:
		}
	}
}

// waitListen polls until a TCP connect to addr succeeds, bounded by ctx.
func waitListen(ctx context.Context, p *proc, addr string) error {
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not listening on %s: %w (last error: %v)", p.name, addr, ctx.Err(), err)
		case <-p.done:
			return fmt.Errorf("%s: exited (%v) before listening on %s", p.name, p.waitErr, addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writeScript writes an executable shell script that touches marker, for the
// "run this when done" hooks of Transmission and aria2.
func writeScript(t testing.TB, dir, name, marker string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	body := fmt.Sprintf("#!/bin/sh\n# Written by internal/thirdparty: marks completion for the test.\necho \"$@\" >> %q.args\ntouch %q\n", marker, marker)
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitLog polls the tool's log until it contains text, bounded by ctx.
func waitLog(ctx context.Context, p *proc, text string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(p.logPath); err == nil && bytes.Contains(b, []byte(text)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %q in its log: %w", p.name, text, ctx.Err())
		case <-p.done:
			if b, err := os.ReadFile(p.logPath); err == nil && bytes.Contains(b, []byte(text)) {
				return nil
			}
			return fmt.Errorf("%s: exited (%v) before logging %q", p.name, p.waitErr, text)
		case <-tick.C:
		}
	}
}
