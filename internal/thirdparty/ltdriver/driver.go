// Package ltdriver holds the Python driver of one libtorrent session (ltdriver.py: JSON
// events out, JSON commands in, one per line) and a small client for it that needs no
// testing.TB, so a command (btt bench transfer --libtorrent) can drive libtorrent as the
// tests do. The tests' richer client is internal/thirdparty.LT, which runs the same script.
package ltdriver

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Script is ltdriver.py; its docstring lists the events and commands.
//
//go:embed ltdriver.py
var Script []byte

// Python is Debian's interpreter, the one python3-libtorrent is built for (a pyenv
// python3 earlier in PATH does not have the module).
const Python = "/usr/bin/python3"

// stopGrace is how long the driver gets to remove its torrent and exit before it is killed.
const stopGrace = 5 * time.Second

// maxLine bounds one line from the driver: a status with many peers is long.
const maxLine = 16 << 20

// Available reports whether the libtorrent Python module can be imported.
func Available() error {
	out, err := exec.Command(Python, "-c", "import libtorrent").CombinedOutput()
	if err != nil {
		return fmt.Errorf("libtorrent for %s: %v: %s", Python, err, out)
	}
	return nil
}

// Event is one line from the driver.
type Event struct {
	Event string          `json:"event"`
	ID    int             `json:"id"`
	Port  int             `json:"port"`
	Msg   string          `json:"msg"`
	Err   string          `json:"err"`
	Raw   json.RawMessage `json:"-"`
}

// Driver is one running driver process. Its methods are for one goroutine at a time.
type Driver struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan Event
	seen   map[string]bool
	nextID int
	Port   int // libtorrent's listen port, from the "ready" event
}

// Start writes the script and cfg (the config ltdriver.py reads; see
// internal/thirdparty.StartLibtorrent for its keys) into dir, starts the driver with its
// log in dir/libtorrent.log, and waits (bounded by ctx) until it listens.
func Start(ctx context.Context, dir string, cfg map[string]any) (*Driver, error) {
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgPath, drvPath := filepath.Join(dir, "config.json"), filepath.Join(dir, "ltdriver.py")
	if err := os.WriteFile(cfgPath, js, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(drvPath, Script, 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "libtorrent.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(Python, "-u", drvPath, cfgPath)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	logf.Close() // the child has its own descriptor
	d := &Driver{cmd: cmd, stdin: stdin, lines: make(chan Event, 64), seen: map[string]bool{}}
	go d.read(stdout)
	ev, err := d.Wait(ctx, "ready")
	if err != nil {
		d.Close()
		return nil, err
	}
	if d.Port = ev.Port; d.Port == 0 {
		d.Close()
		return nil, fmt.Errorf("libtorrent: not listening on %v (see %s)", cfg["listen"], logf.Name())
	}
	return d, nil
}

func (d *Driver) read(r io.Reader) {
	defer close(d.lines)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		var ev Event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue // not ours to judge; the log has it
		}
		ev.Raw = append(json.RawMessage(nil), sc.Bytes()...)
		d.lines <- ev
	}
}

// PID is the driver's process id (libtorrent runs inside it).
func (d *Driver) PID() int { return d.cmd.Process.Pid }

// next returns the next event, bounded by ctx; an "error" event is an error.
func (d *Driver) next(ctx context.Context) (Event, error) {
	select {
	case ev, ok := <-d.lines:
		if !ok {
			return Event{}, errors.New("libtorrent: driver exited")
		}
		if ev.Event == "error" {
			return ev, fmt.Errorf("libtorrent: %s", ev.Msg)
		}
		d.seen[ev.Event] = true
		return ev, nil
	case <-ctx.Done():
		return Event{}, fmt.Errorf("libtorrent: %w", ctx.Err())
	}
}

// Wait waits for an event ("ready", "seeding", "finished"...), or returns at once if it
// came while waiting for something else.
func (d *Driver) Wait(ctx context.Context, event string) (Event, error) {
	if d.seen[event] {
		return Event{Event: event}, nil
	}
	for {
		ev, err := d.next(ctx)
		if err != nil {
			return ev, fmt.Errorf("waiting for %s: %w", event, err)
		}
		if ev.Event == event {
			return ev, nil
		}
	}
}

// Call sends a command ({"cmd": "status"}, {"cmd": "connect", "addr": A}) and returns
// its reply.
func (d *Driver) Call(ctx context.Context, cmd map[string]any) (json.RawMessage, error) {
	d.nextID++
	cmd["id"] = d.nextID
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := d.stdin.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("libtorrent: send %v: %w", cmd["cmd"], err)
	}
	for {
		ev, err := d.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", cmd["cmd"], err)
		}
		if ev.Event == "reply" && ev.ID == d.nextID {
			if ev.Err != "" {
				return nil, fmt.Errorf("libtorrent: %v: %s", cmd["cmd"], ev.Err)
			}
			return ev.Raw, nil
		}
	}
}

// CPUSeconds asks the driver for its process's user+system CPU so far.
func (d *Driver) CPUSeconds(ctx context.Context) (float64, error) {
	raw, err := d.Call(ctx, map[string]any{"cmd": "status"})
	if err != nil {
		return 0, err
	}
	var st struct {
		CPU float64 `json:"cpu_seconds"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return 0, fmt.Errorf("libtorrent status: %w", err)
	}
	return st.CPU, nil
}

// Close stops the session (the driver removes its torrent and exits when stdin closes),
// killing the process group if it is not gone within stopGrace.
func (d *Driver) Close() error {
	d.stdin.Close()
	go func() { // keep reading, so the driver never blocks on a full stdout pipe
		for range d.lines {
		}
	}()
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(stopGrace):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		return <-done
	}
}
