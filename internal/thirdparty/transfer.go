package thirdparty

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
)

// TransferConfig describes one libtorrent -> libtorrent measurement.
type TransferConfig struct {
	Size     int64 // payload bytes, one file
	PieceLen int   // piece length in bytes (a power of two, >= 16 KiB)
	UTP      bool  // uTP only; otherwise TCP only
	// SocketBuffers for both sessions; 0 means 4 MiB, which uTP on loopback
	// needs (with the 208 KiB default it collapses to a few MB/s).
	SocketBuffers int
	// Hybrid uses libtorrent's default v1+v2 torrent (both hash trees are
	// verified); otherwise the torrent is v1 only, like the clients we compare to.
	Hybrid bool
	// Encryption is both sessions' MSE/PE policy (LTRequireRC4 measures RC4).
	Encryption LTEncryption
}

// TransferResult is what one measured transfer took.
type TransferResult struct {
	Bytes   int64
	Elapsed time.Duration // from connect_peer to the leecher's "finished"
	MBps    float64       // Bytes / Elapsed in 10^6 bytes per second
	// CPU seconds (user+system) each process spent during the transfer.
	SeederCPU, LeecherCPU float64
}

// LibtorrentTransfer times one transfer between two libtorrent sessions on
// loopback (seeder 127.0.0.2, leecher 127.0.0.3) and measures each process's
// CPU time over the transfer. Setup (writing the data, making the torrent, the
// seeder's hash check) is not timed. The seeder reads from the page cache (the
// data was just written), the leecher writes to its temporary directory.
func LibtorrentTransfer(t testing.TB, ctx context.Context, cfg TransferConfig) TransferResult {
	t.Helper()
	testutil.NeedLibtorrent(t)
	if cfg.SocketBuffers == 0 {
		cfg.SocketBuffers = 4 << 20
	}
	root := WriteFiles(t, t.TempDir(), []File{{Path: "payload.bin", Size: cfg.Size}})
	tor := LibtorrentCreateTorrent(t, filepath.Join(root, "payload.bin"), cfg.PieceLen, !cfg.Hybrid, nil)
	torPath := WriteTorrent(t, tor)
	lc := func(ip string) LTConfig {
		return LTConfig{Listen: testutil.Addr(ip, testutil.FreePort(t, ip)), Torrent: torPath,
			TCP: !cfg.UTP, UTP: cfg.UTP, SocketBuffers: cfg.SocketBuffers, Encryption: cfg.Encryption}
	}
	sc := lc("127.0.0.2")
	sc.SavePath, sc.Seed = root, true
	seed := StartLibtorrent(t, sc)
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	leech := StartLibtorrent(t, lc("127.0.0.3"))
	s0, l0 := seed.Status().CPUSeconds, leech.Status().CPUSeconds
	start := time.Now()
	leech.ConnectPeer(seed.Addr())
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	ls := leech.Status()
	s1 := seed.Status().CPUSeconds
	if ls.TotalWantedDone != cfg.Size {
		t.Fatalf("leecher has %d of %d bytes after finishing", ls.TotalWantedDone, cfg.Size)
	}
	seed.Stop()
	leech.Stop()
	return TransferResult{
		Bytes: cfg.Size, Elapsed: elapsed, MBps: float64(cfg.Size) / elapsed.Seconds() / 1e6,
		SeederCPU: s1 - s0, LeecherCPU: ls.CPUSeconds - l0,
	}
}
