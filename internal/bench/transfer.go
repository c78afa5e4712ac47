package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/speedbt/btt/wire/metainfo"
)

// TransferConfig describes one loopback transfer between two of our processes.
type TransferConfig struct {
	Btt      string // path of the btt binary that runs each side (`btt seed`, `btt download`)
	Size     int64  // payload bytes, one generated file
	PieceLen int64  // piece length, a power of two >= 16 KiB
	UTP      bool   // uTP instead of TCP
	// Dir holds the data and the torrent; "" picks a fresh directory on tmpfs when there is
	// one (/dev/shm), so the disk is not what is measured.
	Dir string
	// CPUProfile, if not "", is a directory where each side writes its CPU profile
	// (seed.pprof, download.pprof), for docs/performance.md.
	CPUProfile string
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// LTSettings are extra libtorrent settings_pack entries for both libtorrent sessions
	// of LibtorrentTransfer (e.g. its MSE/PE policy); nil: none.
	LTSettings map[string]any
}

// Side is what one process of a transfer spent.
type Side struct {
	CPUSeconds float64 `json:"cpu_s"`
	CPUPerGiB  float64 `json:"cpu_s_per_gib"`
	PeakRSS    int64   `json:"peak_rss_bytes"`  // VmHWM: with file pages the process maps
	PeakAnon   int64   `json:"peak_anon_bytes"` // largest RssAnon sampled during the transfer
}

// TransferResult is one measured transfer.
type TransferResult struct {
	Client  string  `json:"client"` // "btt" or "libtorrent"
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MBps    float64 `json:"mbps"`
	Seeder  Side    `json:"seeder"`
	Leecher Side    `json:"leecher"`
}

// transferTimeout bounds each phase (seeder start-up with its hash check, the transfer):
// 1 GiB at 10 MB/s, a machine far slower than any we measure on, still fits.
const transferTimeout = 10 * time.Minute

// tmpfsMagic is TMPFS_MAGIC from linux/magic.h.
const tmpfsMagic = 0x01021994

// WorkDir returns a new directory for a run that will write about need bytes: under
// /dev/shm if it is tmpfs with room for need plus a quarter, else under the system's
// temporary directory (a container's /dev/shm is often 64 MiB). The caller removes it.
func WorkDir(need int64) (string, bool, error) {
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil && int64(st.Type) == tmpfsMagic &&
		int64(st.Bavail)*int64(st.Bsize) >= need+need/4 {
		d, err := os.MkdirTemp("/dev/shm", "btt-bench-")
		return d, true, err
	}
	d, err := os.MkdirTemp("", "btt-bench-")
	return d, false, err
}

// Payload is a generated data set and its torrent.
type Payload struct {
	Dir     string // holds Name
	Name    string // the payload file
	Torrent string // path of the .torrent
	Info    *metainfo.Info
}

// MakePayload writes size bytes of seeded pseudo-random data to dir/name and a v1
// torrent of it with the given piece length to dir/name.torrent.
func MakePayload(ctx context.Context, dir, name string, size, pieceLen int64) (*Payload, error) {
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(size))
	copy(seed[8:], name)
	rng := rand.NewChaCha8(seed)
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(bw, rng, size); err != nil {
		f.Close()
		return nil, err
	}
	if err := errors.Join(bw.Flush(), f.Close()); err != nil {
		return nil, err
	}
	mi, err := metainfo.Create(ctx, path, metainfo.CreateOptions{PieceLength: pieceLen, CreatedBy: "btt bench"})
	if err != nil {
		return nil, err
	}
	b, err := mi.Encode()
	if err != nil {
		return nil, err
	}
	tor := path + ".torrent"
	if err := os.WriteFile(tor, b, 0o644); err != nil {
		return nil, err
	}
	return &Payload{Dir: dir, Name: name, Torrent: tor, Info: mi.Info}, nil
}

// Transfer runs `btt seed` and `btt download` as separate processes on loopback and
// measures the download: wall time from the downloader's start to its exit (so its own
// start-up, a few milliseconds, is in; the seeder's hash check is not), the CPU of each
// process over that time, and their peak RSS.
func Transfer(ctx context.Context, cfg TransferConfig, p *Payload) (*TransferResult, error) {
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	transport := "tcp"
	if cfg.UTP {
		transport = "utp"
	}
	leechDir := filepath.Join(cfg.Dir, "btt-leech")
	// A fresh directory: a previous run's data and resume file would make it instant.
	if err := os.RemoveAll(leechDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(leechDir, 0o755); err != nil {
		return nil, err
	}
	seedArgs := []string{"seed", p.Torrent, "--data", p.Dir, "--listen", "127.0.0.1:0", "--transport", transport, "--progress-interval", "1h"}
	dlArgs := []string{"download", p.Torrent, "--data", leechDir, "--listen", "127.0.0.2:0", "--transport", transport, "--progress-interval", "1h"}
	if cfg.CPUProfile != "" {
		seedArgs = append(seedArgs, "--cpuprofile", filepath.Join(cfg.CPUProfile, "seed.pprof"))
		dlArgs = append(dlArgs, "--cpuprofile", filepath.Join(cfg.CPUProfile, "download.pprof"))
	}
	seed, err := StartSeeder(ctx, cfg.Btt, seedArgs, logw)
	if err != nil {
		return nil, err
	}
	defer seed.Stop()
	addr := seed.Addr
	fmt.Fprintf(logw, "btt seeder on %s (pid %d)\n", addr, seed.PID())
	cpu0, err := ProcCPU(seed.PID())
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, transferTimeout)
	defer cancel()
	dl := exec.CommandContext(dctx, cfg.Btt, append(dlArgs, "--peer", addr)...)
	dl.Stderr = logw
	var o bytes.Buffer
	dl.Stdout = &o
	start := time.Now()
	if err := dl.Start(); err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "btt downloader pid %d\n", dl.Process.Pid)
	stopWatch := watchAnon(seed.PID(), dl.Process.Pid)
	err = dl.Wait()
	anon := stopWatch()
	if err != nil {
		return nil, fmt.Errorf("btt download: %w\n%s", err, o.Bytes())
	}
	elapsed := time.Since(start)
	cpu1, err := ProcCPU(seed.PID())
	if err != nil {
		return nil, err
	}
	_, seedPeak, err := ProcMem(seed.PID())
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(filepath.Join(leechDir, p.Name))
	if err != nil {
		return nil, err
	}
	if st.Size() != p.Info.TotalLength {
		return nil, fmt.Errorf("downloaded %d of %d bytes", st.Size(), p.Info.TotalLength)
	}
	ru := dl.ProcessState.SysUsage().(*syscall.Rusage)
	r := &TransferResult{Client: "btt", Bytes: st.Size(), Seconds: elapsed.Seconds()}
	r.MBps = float64(r.Bytes) / elapsed.Seconds() / 1e6
	r.Seeder = side(cpu1-cpu0, r.Bytes, seedPeak, anon[0])
	r.Leecher = side((dl.ProcessState.UserTime() + dl.ProcessState.SystemTime()).Seconds(), r.Bytes, ru.Maxrss<<10, anon[1])
	return r, nil
}

func side(cpu float64, bytes, peak, anon int64) Side {
	return Side{CPUSeconds: cpu, CPUPerGiB: cpu / (float64(bytes) / (1 << 30)), PeakRSS: peak, PeakAnon: anon}
}

// Seeder is a running `btt seed` process.
type Seeder struct {
	cmd  *exec.Cmd
	Addr string // where it listens, from its "seeding ... on ADDR" line
}

// StartSeeder runs `btt ARGS...` (a seed command) and waits, bounded, until it says it is
// seeding, after its hash check. Its stderr goes to log.
func StartSeeder(ctx context.Context, btt string, args []string, log io.Writer) (*Seeder, error) {
	cmd := exec.Command(btt, args...)
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Seeder{cmd: cmd}
	if s.Addr, err = seederAddr(ctx, out); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// PID is the seeder's process id.
func (s *Seeder) PID() int { return s.cmd.Process.Pid }

// Stop ends the seeder with SIGTERM (so it writes its CPU profile), killing it if it is
// not gone within seconds.
func (s *Seeder) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// seederAddr reads `btt seed`'s output until it says "seeding NAME (HASH) on ADDR", after
// its hash check, and returns ADDR. The rest of its output is drained in the background.
func seederAddr(ctx context.Context, out io.Reader) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "seeding ") {
				if i := strings.LastIndex(line, " on "); i >= 0 {
					select {
					case found <- line[i+4:]:
					default:
					}
				}
			}
		}
		close(found)
	}()
	ctx, cancel := context.WithTimeout(ctx, transferTimeout)
	defer cancel()
	select {
	case a, ok := <-found:
		if !ok {
			return "", errors.New("btt seed exited before seeding")
		}
		return a, nil
	case <-ctx.Done():
		return "", fmt.Errorf("btt seed: not seeding: %w", ctx.Err())
	}
}
