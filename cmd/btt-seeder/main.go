// Command btt-seeder is the lean seeder: it serves every .torrent in a folder whose data sits
// beside it, with small memory (no per-block goroutines, block buffers pooled, piece payloads
// sent with sendfile) and a small binary. New .torrent files dropped into the folder are
// picked up on the next scan. Each torrent is announced to the trackers it lists.
//
// With --speed --wallet FILE --ledger URL it sells its upload slots by auction (Speed) and
// is paid into the wallet: every --report interval, and when it stops, it prints one
// "earnings" line per torrent. It asks its trackers for the highest bidders of each torrent
// (the top-bidders query) and dials them, so its slots go where the bids are.
//
//	btt-seeder --dir DIR --listen ADDR:PORT [--speed --wallet FILE --ledger URL] [--slots N]
//	    [--upload-limit BYTES/S] [--reserve-grace D --reserve-start BTT --reserve-cap BTT]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/peer/mse"
	"github.com/speedbt/btt/wire/metainfo"
)

func main() {
	dir := flag.String("dir", ".", "folder of .torrent files with their data beside them")
	listen := flag.String("listen", "", "TCP address to accept peers on (required)")
	scan := flag.Duration("scan", 30*time.Second, "how often to look for new .torrent files")
	slots := flag.Int("slots", 0, "regular upload slots per torrent, auctioned with --speed (0: default 4), plus one optimistic")
	upLimit := flag.Int64("upload-limit", 0, "cap uploads at this many bytes per second (0: no cap)")
	rechoke := flag.Duration("rechoke", 0, "rechoke interval (0: default 10s)")
	report := flag.Duration("report", 10*time.Second, "with --speed: how often to print each torrent's earnings")
	verbose := flag.Bool("v", false, "log peer events")
	superSeed := flag.Bool("super-seed", false, "BEP 16 super-seeding: offer each peer one piece at a time")
	encryption := flag.String("encryption", "off", "MSE/PE stream encryption: off, prefer or require")
	var sf speedFlags
	sf.register(flag.CommandLine)
	flag.Parse()
	if *listen == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: btt-seeder --dir DIR --listen ADDR:PORT [--super-seed] [--encryption off|prefer|require]")
		os.Exit(2)
	}
	enc, err := mse.ParsePolicy(*encryption)
	if err != nil {
		fmt.Fprintln(os.Stderr, "btt-seeder:", err)
		os.Exit(2)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	speed, err := sf.config()
	if err != nil {
		fmt.Fprintln(os.Stderr, "btt-seeder:", err)
		os.Exit(2)
	}
	cfg := peer.Config{Listen: *listen, Logger: log, Speed: speed, StateDir: sf.stateDir(), Encryption: enc,
		Settings: peer.Settings{UploadSlots: *slots, UploadRateLimit: *upLimit, RechokeInterval: *rechoke}}
	if err := run(ctx, log, cfg, *dir, *scan, *report, *superSeed); err != nil {
		fmt.Fprintln(os.Stderr, "btt-seeder:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, cfg peer.Config, dir string, scan, report time.Duration, superSeed bool) error {
	sess, err := peer.NewSession(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", sess.Addr())
	if cfg.Speed.Enabled {
		fmt.Printf("speed: selling slots, paid to %s on %s\n", cfg.Speed.Wallet.Address(), cfg.Speed.Ledger)
	}
	serving := map[string]*peer.Torrent{}
	printEarnings := func() {
		if !cfg.Speed.Enabled {
			return
		}
		for _, t := range serving {
			if t != nil {
				fmt.Println(earnings(t.Info().Name, t.Stats(), t.Speed()))
			}
		}
	}
	rescan := time.NewTicker(scan)
	defer rescan.Stop()
	tick := time.NewTicker(max(report, time.Second))
	defer tick.Stop()
	for {
		if err := addNew(sess, log, dir, serving, superSeed); err != nil {
			sess.Close()
			return err
		}
		select {
		case <-ctx.Done():
			printEarnings()
			// Close settles the channel of every requester still connected as its connection
			// closes, and waits for the ledger to answer.
			err := sess.Close()
			for _, t := range serving {
				if t != nil && cfg.Speed.Enabled {
					st := t.Stats()
					fmt.Printf("final %s: earned %s BTT, settled %s BTT\n", t.Info().Name,
						channel.FormatBTT(uint64(max(st.Earned, 0))), channel.FormatBTT(uint64(max(st.Settled, 0))))
				}
			}
			return err
		case <-tick.C:
			printEarnings()
			continue
		case <-rescan.C:
		}
	}
}

// addNew starts serving the .torrent files of dir not served yet. A torrent whose data is
// missing or incomplete is reported and retried on the next scan.
func addNew(sess *peer.Session, log *slog.Logger, dir string, serving map[string]*peer.Torrent, superSeed bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if _, done := serving[name]; e.IsDir() || !strings.HasSuffix(name, ".torrent") || done {
			continue
		}
		mi, err := metainfo.Load(filepath.Join(dir, name))
		if err != nil {
			log.Warn("skipping torrent", "file", name, "err", err)
			serving[name] = nil // a broken file does not get better by rescanning
			continue
		}
		t, err := sess.AddTorrent(mi.Info, peer.TorrentOptions{
			DataDir:     dir,
			ResumeFile:  filepath.Join(dir, ".btt", fmt.Sprintf("%x.resume", mi.InfoHash())),
			SuperSeed:   superSeed,
			PieceLayers: mi.PieceLayers,
			// Announced to the torrent's own trackers, or leechers could find it only if told.
			Trackers: mi.Trackers(),
		})
		if err != nil {
			log.Warn("cannot serve torrent", "file", name, "err", err)
			continue
		}
		if st := t.Stats(); !st.Complete {
			log.Warn("data incomplete; not serving", "file", name, "have", st.PiecesDone, "of", st.Pieces)
			t.Close()
			continue
		}
		serving[name] = t
		fmt.Printf("serving %s %x\n", mi.Info.Name, mi.InfoHash())
	}
	return nil
}
