// Command btt-seeder is the lean seeder: it serves every .torrent in a folder whose data sits
// beside it, with small memory (no per-block goroutines, block buffers pooled, piece payloads
// sent with sendfile) and a small binary. New .torrent files dropped into the folder are
// picked up on the next scan.
//
//	btt-seeder --dir DIR --listen ADDR:PORT
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

	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/peer/mse"
	"github.com/speedbt/btt/wire/metainfo"
)

func main() {
	dir := flag.String("dir", ".", "folder of .torrent files with their data beside them")
	listen := flag.String("listen", "", "TCP address to accept peers on (required)")
	scan := flag.Duration("scan", 30*time.Second, "how often to look for new .torrent files")
	slots := flag.Int("slots", 0, "upload slots per torrent (0: default)")
	verbose := flag.Bool("v", false, "log peer events")
	superSeed := flag.Bool("super-seed", false, "BEP 16 super-seeding: offer each peer one piece at a time")
	encryption := flag.String("encryption", "off", "MSE/PE stream encryption: off, prefer or require")
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
	cfg := peer.Config{Listen: *listen, Logger: log, Settings: peer.Settings{UploadSlots: *slots}, Encryption: enc}
	if err := run(ctx, log, cfg, *dir, *scan, *superSeed); err != nil {
		fmt.Fprintln(os.Stderr, "btt-seeder:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, cfg peer.Config, dir string, scan time.Duration, superSeed bool) error {
	sess, err := peer.NewSession(cfg)
	if err != nil {
		return err
	}
	defer sess.Close()
	fmt.Printf("listening on %s\n", sess.Addr())
	serving := map[string]bool{}
	for {
		if err := addNew(sess, log, dir, serving, superSeed); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(scan):
		}
	}
}

// addNew starts serving the .torrent files of dir not served yet. A torrent whose data is
// missing or incomplete is reported and retried on the next scan.
func addNew(sess *peer.Session, log *slog.Logger, dir string, serving map[string]bool, superSeed bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".torrent") || serving[name] {
			continue
		}
		mi, err := metainfo.Load(filepath.Join(dir, name))
		if err != nil {
			log.Warn("skipping torrent", "file", name, "err", err)
			serving[name] = true // a broken file does not get better by rescanning
			continue
		}
		t, err := sess.AddTorrent(mi.Info, peer.TorrentOptions{
			DataDir:    dir,
			ResumeFile: filepath.Join(dir, ".btt", fmt.Sprintf("%x.resume", mi.InfoHash())),
			SuperSeed:  superSeed,
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
		serving[name] = true
		fmt.Printf("serving %s %x\n", mi.Info.Name, mi.InfoHash())
	}
	return nil
}
