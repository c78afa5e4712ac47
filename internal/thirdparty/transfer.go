package thirdparty

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/bench"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/wire/metainfo"
)

// TransferConfig describes one libtorrent -> libtorrent measurement.
type TransferConfig struct {
	Size     int64 // payload bytes, one file
	PieceLen int   // piece length in bytes (a power of two, >= 16 KiB)
	UTP      bool  // uTP only; otherwise TCP only
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
// loopback (seeder 127.0.0.2, leecher 127.0.0.3, 4 MiB socket buffers) and
// measures each process's CPU time over the transfer, with a torrent made by
// libtorrent itself. The measurement is bench.LibtorrentTransfer's (the one
// `btt bench transfer --libtorrent` makes); this wraps it for tests. Setup
// (writing the data, making the torrent, the seeder's hash check) is not timed.
func LibtorrentTransfer(t testing.TB, ctx context.Context, cfg TransferConfig) TransferResult {
	t.Helper()
	testutil.NeedLibtorrent(t)
	needIsolatedNet(t)
	root := WriteFiles(t, t.TempDir(), []File{{Path: "payload.bin", Size: cfg.Size}})
	tor := LibtorrentCreateTorrent(t, filepath.Join(root, "payload.bin"), cfg.PieceLen, !cfg.Hybrid, nil)
	mi, err := metainfo.Parse(tor)
	if err != nil {
		t.Fatalf("libtorrent's torrent: %v", err)
	}
	p := &bench.Payload{Dir: root, Name: "payload.bin", Torrent: WriteTorrent(t, tor), Info: mi.Info}
	r, err := bench.LibtorrentTransfer(ctx, bench.TransferConfig{UTP: cfg.UTP, Dir: t.TempDir(), LTSettings: cfg.Encryption.settings()}, p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Bytes != cfg.Size {
		t.Fatalf("transferred %d of %d bytes", r.Bytes, cfg.Size)
	}
	return TransferResult{
		Bytes: r.Bytes, Elapsed: time.Duration(r.Seconds * float64(time.Second)), MBps: r.MBps,
		SeederCPU: r.Seeder.CPUSeconds, LeecherCPU: r.Leecher.CPUSeconds,
	}
}
