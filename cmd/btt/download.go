package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/peer/mse"
	"github.com/speedbt/btt/wire/magnet"
	"github.com/speedbt/btt/wire/metainfo"
)

// transferFlags are the flags download and seed share.
type transferFlags struct {
	data     string
	listen   string
	peers    stringList
	verbose  bool
	upLimit  int64
	interval time.Duration
	cpuprof  string
	debug    string
	speed    speedFlags

	transport string
	dht       bool
	dhtNodes  stringList
	slots     int
	maxPeers  int
	rechoke   time.Duration
	trackers  stringList

	encryption string
}

func (f *transferFlags) register(fs *flag.FlagSet, listenDefault string) {
	fs.StringVar(&f.data, "data", ".", "directory the torrent's files live in")
	fs.StringVar(&f.listen, "listen", listenDefault, "TCP address to accept peers on")
	fs.Var(&f.peers, "peer", "peer address HOST:PORT to connect to (repeatable)")
	fs.BoolVar(&f.verbose, "v", false, "log connection events to stderr")
	fs.Int64Var(&f.upLimit, "upload-limit", 0, "cap uploads at this many bytes per second (0: no cap)")
	f.speed.register(fs)
	fs.Var(&f.trackers, "a", "tracker announce URL to add to the torrent's own (repeatable)")
	fs.IntVar(&f.slots, "slots", 0, "regular upload slots (0: default 4); Speed auctions these")
	fs.IntVar(&f.maxPeers, "max-peers", 0, "connections per torrent (0: default 80)")
	fs.DurationVar(&f.rechoke, "rechoke", 0, "rechoke (and auction) interval (0: default 10s)")
	fs.StringVar(&f.transport, "transport", "both", "how to reach peers: tcp, utp or both (uTP first, then TCP)")
	fs.BoolVar(&f.dht, "dht", false, "run a DHT node (BEP 5) on the listen address's UDP port to find peers")
	fs.Var(&f.dhtNodes, "dht-node", "DHT node HOST:PORT to bootstrap from (repeatable; none: wait to be found)")
	fs.StringVar(&f.encryption, "encryption", "off", "MSE/PE stream encryption: off (plaintext only), prefer (offer RC4, still serve plaintext peers) or require (RC4 only)")
	fs.StringVar(&f.cpuprof, "cpuprofile", "", "write a CPU profile to this file (for measurements)")
	fs.StringVar(&f.debug, "debug-listen", "", "serve goroutine and heap counts as JSON at http://`ADDR`/debug/runtime (for tests)")
	fs.DurationVar(&f.interval, "progress-interval", 0, "how often to print progress (default 250ms on a terminal, 2s otherwise)")
}

// startProfile starts the CPU profile if asked; the returned func stops it.
func (f *transferFlags) startProfile() (func(), error) {
	if f.cpuprof == "" {
		return func() {}, nil
	}
	out, err := os.Create(f.cpuprof)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); out.Close() }, nil
}

// start begins the CPU profile (if asked) and the session; stop ends both.
func (f *transferFlags) start(ctx context.Context) (sess *peer.Session, stop func(), err error) {
	stopProfile, err := f.startProfile()
	if err != nil {
		return nil, nil, err
	}
	stopDebug := func() {}
	if f.debug != "" {
		if stopDebug, err = serveDebug(f.debug); err != nil {
			stopProfile()
			return nil, nil, err
		}
	}
	if sess, err = f.session(ctx); err != nil {
		stopDebug()
		stopProfile()
		return nil, nil, err
	}
	return sess, func() { sess.Close(); stopDebug(); stopProfile() }, nil
}

func (f *transferFlags) session(ctx context.Context) (*peer.Session, error) {
	sc, err := f.speed.config(ctx)
	if err != nil {
		return nil, err
	}
	tr, err := peer.ParseTransport(f.transport)
	if err != nil {
		return nil, usageError(err.Error())
	}
	enc, err := mse.ParsePolicy(f.encryption)
	if err != nil {
		return nil, usageError(err.Error())
	}
	return peer.NewSession(peer.Config{
		Encryption: enc,
		Listen:     f.listen,
		Logger:     f.logger(),
		Settings:   peer.Settings{UploadRateLimit: f.upLimit, UploadSlots: f.slots, RechokeInterval: f.rechoke, MaxConnsPerTorrent: f.maxPeers},
		Speed:      sc,
		Transport:  tr,
		DHT:        peer.DHTConfig{Enabled: f.dht, Nodes: f.dhtNodes, StateFile: f.dhtState()},
		StateDir:   f.speed.stateDir(),
	})
}

// tiers are the torrent's tracker tiers with the user's trackers as one more tier.
func (f *transferFlags) tiers(mi *metainfo.MetaInfo) [][]string {
	tiers := mi.Trackers()
	if len(f.trackers) > 0 {
		tiers = append(tiers, append([]string(nil), f.trackers...))
	}
	return tiers
}

// dhtState keeps the DHT node's id and routing table beside the data.
func (f *transferFlags) dhtState() string {
	if !f.dht {
		return ""
	}
	return filepath.Join(f.data, ".btt", "dht.state")
}

func (f *transferFlags) progress() *progress {
	p := newProgress(os.Stdout)
	p.speed = f.speed.on
	if f.interval > 0 {
		p.interval = f.interval
	}
	return p
}

func (f *transferFlags) logger() *slog.Logger {
	level := slog.LevelWarn
	if f.speed.on {
		level = slog.LevelInfo // bids, won slots, vouchers and settlements are the user's money
	}
	if f.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// resumePath keeps resume files beside the data, one per torrent, so a killed download
// restarts without rehashing what it verified.
func resumePath(dataDir string, ih [20]byte) string {
	return filepath.Join(dataDir, ".btt", fmt.Sprintf("%x.resume", ih))
}

func runDownload(ctx context.Context, args []string) error {
	fs := newFlagSet("download", "FILE.torrent|MAGNET")
	var tf transferFlags
	tf.register(fs, "")
	seed := fs.Bool("seed", false, "keep seeding after the download completes, until interrupted")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("usage: btt download FILE.torrent|'magnet:?...' --data DIR [--peer HOST:PORT]... [--listen ADDR:PORT] [--seed]")
	}
	// A magnet link names the torrent by its info-hash: the metadata comes from peers.
	var mag *magnet.Magnet
	var mi *metainfo.MetaInfo
	if strings.HasPrefix(pos[0], "magnet:") {
		mag, err = magnet.Parse(pos[0])
	} else {
		mi, err = metainfo.Load(pos[0])
	}
	if err != nil {
		return err
	}
	sess, stop, err := tf.start(ctx)
	if err != nil {
		return err
	}
	defer stop()
	var t *peer.Torrent
	if mag != nil {
		ih := mag.InfoHash
		if !mag.HasV1 {
			ih = [20]byte(mag.InfoHashV2[:20]) // a v2-only link: the truncated v2 hash names it (BEP 52)
		}
		fmt.Printf("fetching metadata of %x from peers\n", ih)
		var tiers [][]string // the link's own trackers (tr) are added by AddMagnet
		if len(tf.trackers) > 0 {
			tiers = [][]string{tf.trackers}
		}
		t, err = sess.AddMagnet(ctx, mag, peer.TorrentOptions{DataDir: tf.data, Peers: tf.peers, ResumeFile: resumePath(tf.data, ih), Trackers: tiers})
	} else {
		t, err = sess.AddTorrent(mi.Info, peer.TorrentOptions{DataDir: tf.data, Peers: tf.peers, ResumeFile: resumePath(tf.data, mi.InfoHash()), Trackers: tf.tiers(mi), WebSeeds: mi.URLList, PieceLayers: mi.PieceLayers})
	}
	if err != nil {
		return err
	}
	info := t.Info()
	fmt.Printf("downloading %s (%x), %d pieces, %d already on disk\n", info.Name, t.InfoHash(), t.Stats().Pieces, t.Stats().RecheckedPieces)
	p := tf.progress()
	if err := p.run(ctx, t, true); err != nil {
		return err
	}
	st := t.Stats()
	fmt.Printf("complete: %s (downloaded %d bytes this run, %d pieces were already on disk)\n",
		filepath.Join(tf.data, info.Name), st.Downloaded, st.RecheckedPieces)
	if !*seed {
		return nil
	}
	return p.run(ctx, t, false)
}

func runSeed(ctx context.Context, args []string) error {
	fs := newFlagSet("seed", "FILE.torrent")
	var tf transferFlags
	tf.register(fs, "")
	superSeed := fs.Bool("super-seed", false, "BEP 16 super-seeding: offer each peer one piece at a time, so an initial seed uploads each piece about once")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || tf.listen == "" {
		return usageError("usage: btt seed FILE.torrent --data DIR --listen ADDR:PORT [--peer HOST:PORT]...")
	}
	mi, err := metainfo.Load(pos[0])
	if err != nil {
		return err
	}
	sess, stop, err := tf.start(ctx)
	if err != nil {
		return err
	}
	defer stop()
	t, err := sess.AddTorrent(mi.Info, peer.TorrentOptions{DataDir: tf.data, Peers: tf.peers, ResumeFile: resumePath(tf.data, mi.InfoHash()), Trackers: tf.tiers(mi), SuperSeed: *superSeed, PieceLayers: mi.PieceLayers})
	if err != nil {
		return err
	}
	st := t.Stats()
	if !st.Complete {
		return fmt.Errorf("seed: only %d of %d pieces of %s verified in %s", st.PiecesDone, st.Pieces, mi.Info.Name, tf.data)
	}
	fmt.Printf("seeding %s (%x) on %s\n", mi.Info.Name, mi.InfoHash(), sess.Addr())
	return tf.progress().run(ctx, t, false)
}
