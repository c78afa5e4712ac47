package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"time"

	"github.com/speedbt/btt/internal/bench"
	"github.com/speedbt/btt/wire/metainfo"
)

// runBench dispatches `btt bench transfer` and `btt bench connect`; the measuring is
// internal/bench's, this only reads flags and prints.
func runBench(ctx context.Context, args []string) error {
	const use = "usage: btt bench transfer|connect [flags] (-h for each one's flags)"
	if len(args) == 0 {
		return usageError(use)
	}
	switch args[0] {
	case "transfer":
		return runBenchTransfer(ctx, args[1:])
	case "connect":
		return runBenchConnect(ctx, args[1:])
	}
	return usagef("unknown bench %q; %s", args[0], use)
}

// maxBenchMiB bounds --size: the payload is written to tmpfs (memory) or disk twice over.
const maxBenchMiB = 64 << 10

func runBenchTransfer(ctx context.Context, args []string) error {
	fs := newFlagSet("bench transfer", "")
	size := fs.Int("size", 256, "payload in MiB")
	pieceLen := fs.Int64("piece-length", 256<<10, "piece length in bytes (a power of two, at least 16384)")
	transport := fs.String("transport", "tcp", "tcp or utp")
	withLT := fs.Bool("libtorrent", false, "also move the same payload libtorrent -> libtorrent, in the same run")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on the last line")
	prof := fs.String("cpuprofile", "", "directory where our seeder and downloader write CPU profiles (seed.pprof, download.pprof)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("usage: btt bench transfer [--size MIB] [--piece-length BYTES] [--transport tcp|utp] [--libtorrent] [--json]")
	}
	if *size <= 0 || *size > maxBenchMiB {
		return usagef("--size %d: want 1..%d MiB", *size, maxBenchMiB)
	}
	if *pieceLen < 16<<10 || *pieceLen&(*pieceLen-1) != 0 {
		return usagef("--piece-length %d: want a power of two >= 16384", *pieceLen)
	}
	if *transport != "tcp" && *transport != "utp" {
		return usagef("--transport %q: want tcp or utp", *transport)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The payload, our download of it, and libtorrent's.
	dir, tmpfs, err := bench.WorkDir(3 * int64(*size) << 20)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	where := "disk (no tmpfs with room at /dev/shm)"
	if tmpfs {
		where = "tmpfs"
	}
	fmt.Printf("generating %d MiB in %s (%s), %d-byte pieces, loopback %s\n", *size, dir, where, *pieceLen, *transport)
	p, err := bench.MakePayload(ctx, dir, "payload.bin", int64(*size)<<20, *pieceLen)
	if err != nil {
		return err
	}
	cfg := bench.TransferConfig{Btt: self, Size: int64(*size) << 20, PieceLen: *pieceLen, UTP: *transport == "utp", Dir: dir, CPUProfile: *prof, Log: os.Stderr}
	ours, err := bench.Transfer(ctx, cfg, p)
	if err != nil {
		return err
	}
	printTransfer(ours)
	out := map[string]any{"mbps": ours.MBps, "size_mib": *size, "piece_length": *pieceLen, "transport": *transport, "tmpfs": tmpfs, "btt": ours}
	if *withLT {
		lt, err := bench.LibtorrentTransfer(ctx, cfg, p)
		if err != nil {
			return err
		}
		printTransfer(lt)
		ratios := map[string]float64{
			"mbps":         ours.MBps / lt.MBps,
			"seeder_cpu":   ours.Seeder.CPUSeconds / lt.Seeder.CPUSeconds,
			"leecher_cpu":  ours.Leecher.CPUSeconds / lt.Leecher.CPUSeconds,
			"seeder_anon":  float64(ours.Seeder.PeakAnon) / float64(lt.Seeder.PeakAnon),
			"leecher_anon": float64(ours.Leecher.PeakAnon) / float64(lt.Leecher.PeakAnon),
		}
		fmt.Printf("ours / libtorrent: %.2fx MB/s, CPU %.2fx (seeder) %.2fx (downloader), anonymous memory %.2fx (seeder) %.2fx (downloader; libtorrent's includes its Python driver)\n",
			ratios["mbps"], ratios["seeder_cpu"], ratios["leecher_cpu"], ratios["seeder_anon"], ratios["leecher_anon"])
		out["libtorrent"] = lt
		out["ratios"] = ratios
	}
	if *asJSON {
		return printJSON(out)
	}
	return nil
}

func printTransfer(r *bench.TransferResult) {
	fmt.Printf("%-10s %8.1f MB/s  %6.2f s  seeder %.2f CPU-s/GiB, peak RSS %.1f MiB (anon %.1f)  downloader %.2f CPU-s/GiB, peak RSS %.1f MiB (anon %.1f)\n",
		r.Client, r.MBps, r.Seconds, r.Seeder.CPUPerGiB, mib(r.Seeder.PeakRSS), mib(r.Seeder.PeakAnon),
		r.Leecher.CPUPerGiB, mib(r.Leecher.PeakRSS), mib(r.Leecher.PeakAnon))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Printf("%s\n", b)
	return nil
}

// maxBenchSeconds bounds --duration.
const maxBenchSeconds = 24 * 3600

func runBenchConnect(ctx context.Context, args []string) error {
	fs := newFlagSet("bench connect", "")
	torrent := fs.String("torrent", "", "the .torrent the seeder serves (required)")
	addr := fs.String("peer", "", "the seeder, HOST:PORT (required)")
	peers := fs.Int("peers", 1, "downloaders, each on its own connection")
	secs := fs.Float64("duration", 10, "seconds of downloading, from the first connection")
	verify := fs.Bool("verify", false, "keep each piece and check its SHA-1 (costs a piece buffer per piece in flight)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on the last line")
	transport := fs.String("transport", "tcp", "tcp or utp")
	depth := fs.Int("depth", 0, "requests in flight per downloader (0: 64)")
	seederPID := fs.Int("seeder-pid", 0, "pid of a local seeder to sample for CPU and RSS (0: find the process listening on --peer, if local)")
	srcBase := fs.String("source-ip", "", "give downloader i the local address SOURCE+i (e.g. 127.0.0.10), for seeders that take one connection per address")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *torrent == "" || *addr == "" {
		return usageError("usage: btt bench connect --torrent FILE --peer HOST:PORT --peers N [--duration SECONDS] [--verify] [--json]")
	}
	if *peers <= 0 || *peers > 5000 {
		return usagef("--peers %d: want 1..5000", *peers)
	}
	if *secs <= 0 || *secs > maxBenchSeconds {
		return usagef("--duration %v: want 0..%d seconds", *secs, maxBenchSeconds)
	}
	if *transport != "tcp" && *transport != "utp" {
		return usagef("--transport %q: want tcp or utp", *transport)
	}
	mi, err := metainfo.Load(*torrent)
	if err != nil {
		return err
	}
	cfg := bench.ConnectConfig{
		Info: mi.Info, Addr: *addr, Peers: *peers, Duration: time.Duration(*secs * float64(time.Second)),
		Verify: *verify, UTP: *transport == "utp", Depth: *depth, SeederPID: *seederPID,
	}
	if *srcBase != "" {
		base := net.ParseIP(*srcBase).To4()
		if base == nil {
			return usagef("--source-ip %q: want an IPv4 address", *srcBase)
		}
		if int(base[3])+*peers > 255 {
			return usagef("--source-ip %s: %d peers do not fit in its /24", *srcBase, *peers)
		}
		cfg.SourceIP = func(i int) string {
			return net.IPv4(base[0], base[1], base[2], base[3]+byte(i)).String()
		}
	}
	if cfg.SeederPID == 0 {
		if pid, err := bench.FindListener(*addr); err == nil {
			cfg.SeederPID = pid
		}
	}
	fmt.Printf("%d downloaders -> %s over %s for %.0f s (torrent %s, %d pieces of %d bytes, verify %v)\n",
		*peers, *addr, *transport, *secs, mi.Info.Name, mi.Info.NumPieces(), mi.Info.PieceLength, *verify)
	if cfg.SeederPID != 0 {
		fmt.Printf("sampling seeder pid %d\n", cfg.SeederPID)
	}
	cfg.Progress = func(p bench.Progress) {
		fmt.Printf("%6.1fs  %d/%d connected  %8.1f MB/s  %10.1f MB\n", p.Elapsed.Seconds(), p.Connected, *peers, p.MBps, float64(p.Bytes)/1e6)
	}
	res, err := bench.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	printConnect(res)
	if *asJSON {
		if err := printJSON(res); err != nil {
			return err
		}
	}
	if res.HashFails > 0 { // the JSON, if asked for, is still the last line of stdout
		return fmt.Errorf("%d pieces failed their hash check", res.HashFails)
	}
	return nil
}

// perPeerLines is how many downloaders the text report lists one by one; more are summed
// up as slowest, median and fastest (--json lists all).
const perPeerLines = 20

func printConnect(r *bench.ConnectResult) {
	fmt.Printf("aggregate %.1f MB/s (%d bytes in %.1f s), %d of %d connected\n", r.MBps, r.Bytes, r.Seconds, r.Connected, r.Peers)
	fmt.Printf("per peer: min %.2f max %.2f MB/s, Jain fairness %.3f; request latency p50 %.2f ms p99 %.2f ms\n",
		r.PeerMin, r.PeerMax, r.Jain, r.P50ms, r.P99ms)
	if r.Verify {
		fmt.Printf("verified %d pieces, %d hash failures\n", r.Verified, r.HashFails)
	}
	if r.Seeder != nil {
		fmt.Printf("seeder pid %d: %.2f CPU-s (%.2f per GiB), RSS %.1f MiB (peak %.1f MiB), anonymous memory %.1f -> %.1f MiB\n",
			r.Seeder.PID, r.Seeder.CPUSeconds, r.Seeder.CPUPerGiB, mib(r.Seeder.RSS), mib(r.Seeder.PeakRSS), mib(r.Seeder.Anon0), mib(r.Seeder.Anon))
	}
	show := r.PerPeer
	if len(show) > perPeerLines {
		sorted := append([]bench.PeerResult(nil), show...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].MBps < sorted[j].MBps })
		show = []bench.PeerResult{sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1]}
		fmt.Println("slowest, median, fastest:")
	}
	for _, p := range show {
		line := fmt.Sprintf("  %-22s %8.2f MB/s %12d bytes", p.Local, p.MBps, p.Bytes)
		if p.Err != "" {
			line += "  error: " + p.Err
		}
		fmt.Println(line)
	}
}
