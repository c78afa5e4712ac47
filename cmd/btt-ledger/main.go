// Command btt-ledger runs Speed's private ledger: accounts, payment channels and a faucet
// over HTTP with JSON bodies, stored durably in a bbolt file.
//
//	btt-ledger --listen 127.0.0.1:7000 --db ledger.db
//	btt-ledger bench --ledger http://127.0.0.1:7000 --treasury-key ledger.db.treasury.json
//
// On first start (empty database) it creates the genesis state: the whole supply,
// 990,000,000,000 BTT, in a treasury account whose key it writes to --treasury-key (a wallet
// file, mode 0600) unless that file already holds a key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
	"github.com/speedbt/btt/channel/wallet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		err = runBench(ctx, os.Args[2:], os.Stdout)
	} else {
		err = serve(ctx, os.Args[1:], os.Stderr)
	}
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "btt-ledger:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, args []string, logw io.Writer) error {
	fs := flag.NewFlagSet("btt-ledger", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:7000", "address to serve HTTP on")
	dbPath := fs.String("db", "ledger.db", "bbolt database file")
	treasuryKey := fs.String("treasury-key", "", "treasury wallet file (default DB.treasury.json); created at genesis")
	cfg := ledger.DefaultConfig()
	fs.IntVar(&cfg.Core.FaucetBits, "faucet-bits", cfg.Core.FaucetBits, "faucet proof-of-work difficulty (leading zero bits)")
	faucetAmount := fs.String("faucet-amount", channel.FormatBTT(cfg.Core.FaucetAmount), "faucet grant in BTT")
	faucetBudget := fs.String("faucet-budget", channel.FormatBTT(cfg.Core.FaucetBudget), "faucet lifetime total in BTT")
	fs.DurationVar(&cfg.SweepInterval, "sweep", cfg.SweepInterval, "how often expired channels are refunded")
	fs.IntVar(&cfg.MaxBatch, "max-batch", cfg.MaxBatch, "most operations per durable commit")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until shutdown")
	bridgeAddr := fs.String("bridge", "", "address of the TRON bridge's key (btt-bridge); enables withdrawals and deposits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.Core.FaucetAmount, err = channel.ParseBTT(*faucetAmount); err != nil {
		return fmt.Errorf("--faucet-amount: %w", err)
	}
	if cfg.Core.FaucetBudget, err = channel.ParseBTT(*faucetBudget); err != nil {
		return fmt.Errorf("--faucet-budget: %w", err)
	}
	if *bridgeAddr != "" {
		if cfg.Core.Bridge, err = channel.ParseAddress(*bridgeAddr); err != nil {
			return fmt.Errorf("--bridge: %w", err)
		}
	}
	if *treasuryKey == "" {
		*treasuryKey = *dbPath + ".treasury.json"
	}
	tk, err := treasury(*treasuryKey)
	if err != nil {
		return err
	}
	cfg.Treasury = tk.Address()

	store, err := boltstore.Open(*dbPath)
	if err != nil {
		return err
	}
	defer store.Close()
	l, err := ledger.Open(ctx, store, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           ledger.NewHandler(l),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(logw, "btt-ledger: http: ", 0),
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- l.Run(runCtx) }()
	go func() {
		select {
		case <-ctx.Done():
		case <-runCtx.Done():
		}
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		srv.Shutdown(sctx)
	}()
	fmt.Fprintf(logw, "btt-ledger: ledger %s treasury %s listening on http://%s\n", l.ID(), cfg.Treasury, ln.Addr())
	serveErr := srv.Serve(ln)
	cancel()
	err = <-runErr
	st := l.Stats()
	fmt.Fprintf(logw, "btt-ledger: %d operations, %d batches, %d commits (%.1f ops/commit, %v/commit), largest batch %d\n",
		st.Ops, st.Batches, st.Commits, float64(st.Ops)/float64(max(st.Commits, 1)),
		(st.CommitTime / time.Duration(max(st.Commits, 1))).Round(time.Microsecond), st.MaxBatchSeen)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, err)
}

// treasury loads the treasury key, creating it when the file does not exist. The file is
// unencrypted (the server starts unattended); protect it like the database.
func treasury(path string) (*channel.PrivateKey, error) {
	k, err := wallet.Load(path, nil)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	if k, err = channel.GenerateKey(); err != nil {
		return nil, err
	}
	return k, wallet.Save(path, k, nil)
}
