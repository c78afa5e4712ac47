package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/speedbt/btt/internal/thirdparty/ltdriver"
)

// ltSocketBuffers are libtorrent's socket buffers in the transfer: 4 MiB, which its uTP
// needs on loopback (with the 208 KiB default it collapses to a few MB/s; docs/utp.md).
// TCP gets the same, so both transports run as tuned as we know how.
const ltSocketBuffers = 4 << 20

// LibtorrentTransfer moves the same payload between two libtorrent sessions (seeder on
// 127.0.0.2, leecher on 127.0.0.3), each its own process, and measures it as Transfer
// does ours: from the leecher's connect to its "finished", the CPU of each process over
// that time (libtorrent's own count), and peak RSS (the Python interpreter and the
// libtorrent module are in it; and libtorrent maps the payload's file, so its VmHWM counts
// those pages: PeakAnon is the fairer figure).
func LibtorrentTransfer(ctx context.Context, cfg TransferConfig, p *Payload) (*TransferResult, error) {
	if err := ltdriver.Available(); err != nil {
		return nil, err
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	ctx, cancel := context.WithTimeout(ctx, 2*transferTimeout)
	defer cancel()
	base := func(ip, save string, seed bool) map[string]any {
		return map[string]any{
			"listen": ip + ":0", "torrent": p.Torrent, "save_path": save, "seed": seed,
			"tcp": !cfg.UTP, "utp": cfg.UTP, "socket_buffers": ltSocketBuffers,
			"settings": cfg.LTSettings,
		}
	}
	seedDir, leechDir := filepath.Join(cfg.Dir, "lt-seed"), filepath.Join(cfg.Dir, "lt-leech")
	for _, d := range []string{seedDir, leechDir} {
		// Fresh: a previous run's download would be found complete.
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	seed, err := ltdriver.Start(ctx, seedDir, base("127.0.0.2", p.Dir, true))
	if err != nil {
		return nil, err
	}
	defer seed.Close()
	if _, err := seed.Wait(ctx, "seeding"); err != nil {
		return nil, err
	}
	seedAddr := fmt.Sprintf("127.0.0.2:%d", seed.Port)
	fmt.Fprintf(logw, "libtorrent seeder on %s (pid %d)\n", seedAddr, seed.PID())
	leech, err := ltdriver.Start(ctx, leechDir, base("127.0.0.3", leechDir, false))
	if err != nil {
		return nil, err
	}
	defer leech.Close()
	fmt.Fprintf(logw, "libtorrent leecher pid %d\n", leech.PID())
	s0, err := seed.CPUSeconds(ctx)
	if err != nil {
		return nil, err
	}
	l0, err := leech.CPUSeconds(ctx)
	if err != nil {
		return nil, err
	}
	stopWatch := watchAnon(seed.PID(), leech.PID())
	defer stopWatch()
	start := time.Now()
	if _, err := leech.Call(ctx, map[string]any{"cmd": "connect", "addr": seedAddr}); err != nil {
		return nil, err
	}
	if _, err := leech.Wait(ctx, "finished"); err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	anon := stopWatch()
	s1, err := seed.CPUSeconds(ctx)
	if err != nil {
		return nil, err
	}
	l1, err := leech.CPUSeconds(ctx)
	if err != nil {
		return nil, err
	}
	_, seedPeak, err := ProcMem(seed.PID())
	if err != nil {
		return nil, err
	}
	_, leechPeak, err := ProcMem(leech.PID())
	if err != nil {
		return nil, err
	}
	r := &TransferResult{Client: "libtorrent", Bytes: p.Info.TotalLength, Seconds: elapsed.Seconds()}
	r.MBps = float64(r.Bytes) / elapsed.Seconds() / 1e6
	r.Seeder = side(s1-s0, r.Bytes, seedPeak, anon[0])
	r.Leecher = side(l1-l0, r.Bytes, leechPeak, anon[1])
	return r, nil
}
