package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/speedbt/btt/internal/daemon"
	"github.com/speedbt/btt/internal/transmission"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/peer/mse"
)

// runDaemon hosts many torrents in one session, driven over Transmission's RPC, until
// SIGTERM or SIGINT; then every torrent stops cleanly (stopped announces, resume written)
// and the state is saved for the next start.
func runDaemon(ctx context.Context, args []string) error {
	fs := newFlagSet("daemon", "")
	rpcAddr := fs.String("rpc", "127.0.0.1:9091", "address of the Transmission-compatible RPC, web client and /metrics")
	dir := fs.String("dir", "", "state directory: torrents, resume data, settings (required)")
	listen := fs.String("listen", "127.0.0.1:51413", "TCP (and uTP) address to accept peers on")
	webUI := fs.String("web-ui", "", "directory of a web client to serve at /transmission/web/ (e.g. /usr/share/transmission/web)")
	user := fs.String("rpc-user", "", "user name the RPC requires (with --rpc-password)")
	password := fs.String("rpc-password", "", "password the RPC requires")
	downloadDir := fs.String("download-dir", "", "default download folder (default STATEDIR/downloads; saved)")
	verbose := fs.Bool("v", false, "log connection events to stderr")
	slots := fs.Int("slots", 0, "regular upload slots per torrent (0: default 4); Speed auctions these")
	rechoke := fs.Duration("rechoke", 0, "rechoke (and auction) interval (0: default 10s)")
	encryption := fs.String("encryption", "off", "MSE/PE stream encryption: off (plaintext only), prefer (offer RC4, still serve plaintext peers) or require (RC4 only)")
	var sf speedFlags
	sf.register(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *dir == "" {
		return usageError("usage: btt daemon --dir STATEDIR [--rpc ADDR:PORT] [--listen ADDR:PORT] [--web-ui DIR] [--rpc-user U --rpc-password P]")
	}
	if (*user == "") != (*password == "") {
		return usageError("--rpc-user and --rpc-password go together")
	}
	enc, err := mse.ParsePolicy(*encryption)
	if err != nil {
		return usageError(err.Error())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	d, err := daemon.Open(daemon.Config{
		Dir:         *dir,
		Listen:      *listen,
		DownloadDir: *downloadDir,
		Logger:      log,
		Peer:        peer.Settings{UploadSlots: *slots, RechokeInterval: *rechoke},
		Encryption:  enc,
		Override: func(s *daemon.Settings) {
			if set["download-dir"] {
				s.DownloadDir = *downloadDir
			}
			sf.override(&s.Speed, set)
		},
		SpeedConfig: func(ctx context.Context, s daemon.SpeedSettings, ledgerHTTP *http.Client) (peer.SpeedConfig, error) {
			f := speedFlagsFrom(s)
			f.ledgerHTTP = ledgerHTTP // counted in /metrics
			return f.config(ctx)
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *rpcAddr)
	if err != nil {
		d.Close()
		return fmt.Errorf("rpc: %w", err)
	}
	srv := &http.Server{
		Handler: transmission.New(d, transmission.Config{User: *user, Password: *password, WebUI: *webUI, Logger: log}),
		// A client that trickles its headers or body must not hold a connection forever.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("btt daemon: RPC on http://%s/transmission/rpc, peers on %s, state in %s\n", ln.Addr(), d.Addr(), *dir)
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, d.Close())
}

// override copies the Speed flags given on the command line over the saved settings.
func (f *speedFlags) override(s *daemon.SpeedSettings, set map[string]bool) {
	pick := func(name string, apply func()) {
		if set[name] {
			apply()
		}
	}
	pick("speed", func() { s.Enabled = f.on })
	pick("balance", func() { s.Balance = f.balance })
	pick("spending-rate", func() { s.SpendingRate = f.spendingRate })
	pick("no-bid", func() { s.NoBid = f.noBid })
	pick("no-sell", func() { s.NoSell = f.noSell })
	pick("reserve-grace", func() { s.ReserveGrace = f.reserveGrace })
	pick("reserve-start", func() { s.ReserveStart = f.reserveStart })
	pick("reserve-cap", func() { s.ReserveCap = f.reserveCap })
	pick("wallet", func() { s.Wallet = f.wallet })
	pick("ledger", func() { s.Ledger = f.ledger })
	pick("password-file", func() { s.PasswordFile = f.passwordFile })
}

// speedFlagsFrom is the inverse of override: saved settings as if typed as flags, so one
// function (speedFlags.config) turns both into a session's Speed configuration.
func speedFlagsFrom(s daemon.SpeedSettings) speedFlags {
	return speedFlags{
		on: s.Enabled, balance: s.Balance, spendingRate: s.SpendingRate, noBid: s.NoBid, noSell: s.NoSell,
		reserveGrace: s.ReserveGrace, reserveStart: s.ReserveStart, reserveCap: s.ReserveCap,
		wallet: s.Wallet, ledger: s.Ledger, passwordFile: s.PasswordFile,
	}
}
