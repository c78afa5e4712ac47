package conformance

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/peer/mse"
)

// TestMSEThroughput measures what RC4 costs: one loopback TCP transfer ours -> ours in
// plaintext and one with encryption required, and the same pair libtorrent -> libtorrent
// (plaintext, then forced RC4), all in one run. It logs throughput and CPU seconds per GiB
// as ratios of encrypted to plain (absolute figures mean little on a loaded machine); it
// fails only if a transfer does not complete or its data differ. BTT_MSE_MEASURE_MIB sets the
// size (default 64 MiB).
func TestMSEThroughput(t *testing.T) {
	mib := envInt("BTT_MSE_MEASURE_MIB", 64)
	size := int64(mib) << 20
	dir := t.TempDir()
	mi, _ := makeTorrent(t, dir, "mse-measure", []thirdparty.File{{Path: "payload.bin", Size: size}}, 256<<10, false)

	type result struct{ mbps, cpuPerGiB float64 }
	ours := func(p mse.Policy) result {
		seeder := startSessionCfg(t, "127.0.5.1", peer.Config{Transport: peer.TransportTCP, Encryption: p})
		seedTor := addTorrent(t, seeder, mi, dir)
		select {
		case <-seedTor.Complete(): // checked its data: a seeder
		case <-time.After(2 * time.Minute):
			t.Fatal("seeder did not finish checking")
		}
		leecher := startSessionCfg(t, "127.0.5.2", peer.Config{Transport: peer.TransportTCP, Encryption: p})
		out := t.TempDir()
		cpu0 := processCPU(t)
		start := time.Now()
		tor := addTorrent(t, leecher, mi, out, seeder.Addr().String())
		waitOurs(t, tor, 5*time.Minute)
		el := time.Since(start)
		cpu := processCPU(t) - cpu0 // both sessions live in this process
		sameContent(t, mi.Info, dir, out)
		leecher.Close()
		seeder.Close()
		return result{float64(size) / el.Seconds() / 1e6, cpu / (float64(size) / (1 << 30))}
	}
	lt := func(enc thirdparty.LTEncryption) result {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		r := thirdparty.LibtorrentTransfer(t, ctx, thirdparty.TransferConfig{Size: size, PieceLen: 256 << 10, Encryption: enc})
		return result{r.MBps, (r.SeederCPU + r.LeecherCPU) / (float64(size) / (1 << 30))}
	}
	oursPlain, oursRC4 := ours(mse.Off), ours(mse.Require)
	ltPlain, ltRC4 := lt(thirdparty.LTPlain), lt(thirdparty.LTRequireRC4)
	t.Logf("%d MiB over loopback TCP, machine shared and loaded: compare only within this run", mib)
	t.Logf("ours:       plain %.0f MB/s, %.2f CPU-s/GiB; rc4 %.0f MB/s, %.2f CPU-s/GiB; rc4/plain throughput %.2f, CPU %.2f",
		oursPlain.mbps, oursPlain.cpuPerGiB, oursRC4.mbps, oursRC4.cpuPerGiB, oursRC4.mbps/oursPlain.mbps, oursRC4.cpuPerGiB/oursPlain.cpuPerGiB)
	t.Logf("libtorrent: plain %.0f MB/s, %.2f CPU-s/GiB; rc4 %.0f MB/s, %.2f CPU-s/GiB; rc4/plain throughput %.2f, CPU %.2f",
		ltPlain.mbps, ltPlain.cpuPerGiB, ltRC4.mbps, ltRC4.cpuPerGiB, ltRC4.mbps/ltPlain.mbps, ltRC4.cpuPerGiB/ltPlain.cpuPerGiB)
	t.Logf("ours/libtorrent with rc4: throughput %.2f, CPU per GiB %.2f", oursRC4.mbps/ltRC4.mbps, oursRC4.cpuPerGiB/ltRC4.cpuPerGiB)
}

// processCPU is this process's user+system CPU seconds so far.
func processCPU(t *testing.T) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return sec(ru.Utime) + sec(ru.Stime)
}
