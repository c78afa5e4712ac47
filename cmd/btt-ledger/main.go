// Command btt-ledger runs Speed's private ledger: accounts, payment channels and a faucet
// over HTTP with JSON bodies, stored durably in a bbolt file or in PostgreSQL.
//
//	btt-ledger --listen 127.0.0.1:7000 --db ledger.db
//	btt-ledger --listen 127.0.0.1:7001 --db postgres://btt@127.0.0.1:5432/btt?sslmode=disable
//	btt-ledger bench --ledger http://127.0.0.1:7000 --treasury-key ledger.db.treasury.json
//
// On first start (empty database) it creates the genesis state: the whole supply,
// 990,000,000,000 BTT, in a treasury account whose key it writes to --treasury-key (a wallet
// file, mode 0600) unless that file already holds a key.
//
// Several processes may share one PostgreSQL database: the database elects one writer (an
// advisory lock, with an epoch that fences every commit), the others answer reads and
// refuse writes with 503 not_writer until the writer dies and one of them takes over. A
// writer whose commit fails or whose lock session ends logs why and exits non-zero.
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
	"github.com/speedbt/btt/channel/ledger/pgstore"
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
	dbPath := fs.String("db", "ledger.db", "bbolt database file, or a PostgreSQL URL (postgres://USER@HOST:PORT/DB?sslmode=disable)")
	treasuryKey := fs.String("treasury-key", "", "treasury wallet file (default DB.treasury.json, or btt-ledger.treasury.json with PostgreSQL); created at genesis")
	cfg := ledger.DefaultConfig()
	fs.IntVar(&cfg.Core.FaucetBits, "faucet-bits", cfg.Core.FaucetBits, "faucet proof-of-work difficulty (leading zero bits)")
	faucetAmount := fs.String("faucet-amount", channel.FormatBTT(cfg.Core.FaucetAmount), "faucet grant in BTT")
	faucetBudget := fs.String("faucet-budget", channel.FormatBTT(cfg.Core.FaucetBudget), "faucet lifetime total in BTT")
	fs.DurationVar(&cfg.SweepInterval, "sweep", cfg.SweepInterval, "how often expired channels are refunded")
	fs.IntVar(&cfg.MaxBatch, "max-batch", cfg.MaxBatch, "most operations per durable commit")
	fs.DurationVar(&cfg.Core.ReceiptWindow, "receipt-window", cfg.Core.ReceiptWindow,
		"idempotency window: older nonces are refused, receipts and settled channels older than it leave memory (0: keep all, accept any nonce)")
	// 1,000 requests/s per client address is ten times what a busy peer needs (a few
	// channel operations and balance reads per second) and a 300-client read flood from
	// one host gets a thousandth of its attempts through. Benchmarks from one host pass 0.
	rate := fs.Float64("rate-limit", 1000, "requests per second per client IP (0: unlimited)")
	burst := fs.Int("rate-burst", 2000, "requests a client IP may send at once before --rate-limit applies")
	faucetRate := fs.Float64("faucet-per-ip", 1.0/60, "faucet claims per second per client IP (0: unlimited)")
	faucetBurst := fs.Int("faucet-burst", 3, "faucet claims a client IP may make at once")
	fs.Func("faucet-target", fmt.Sprintf("claims per --faucet-half-life at the base difficulty; each doubling of the rate above it adds a bit (default %d; 0: fixed difficulty)", cfg.Core.FaucetTarget), func(s string) error {
		n, err := strconv.ParseUint(s, 10, 32)
		cfg.Core.FaucetTarget = uint32(n)
		return err
	})
	fs.IntVar(&cfg.Core.FaucetSpentBits, "faucet-spent-bits", cfg.Core.FaucetSpentBits,
		"bits the faucet's difficulty gains across its budget (one more per 1/N of it paid out; 0: flat)")
	fs.DurationVar(&cfg.Core.FaucetHalfLife, "faucet-half-life", cfg.Core.FaucetHalfLife, "how fast the faucet's claim count (and difficulty) decays")
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
	pg := isPostgres(*dbPath)
	if *treasuryKey == "" {
		*treasuryKey = *dbPath + ".treasury.json"
		if pg {
			*treasuryKey = "btt-ledger.treasury.json"
		}
	}
	tk, err := treasury(*treasuryKey)
	if err != nil {
		return err
	}
	cfg.Treasury = tk.Address()
	scfg := ledger.ServerConfig{Core: cfg.Core, RatePerIP: *rate, BurstPerIP: *burst, FaucetPerIP: *faucetRate, FaucetBurstPerIP: *faucetBurst}
	if pg {
		return servePostgres(ctx, *dbPath, *listen, cfg, scfg, logw)
	}
	store, err := boltstore.Open(*dbPath)
	if err != nil {
		return err
	}
	defer store.Close()
	l, err := ledger.Open(ctx, store, cfg)
	if err != nil {
		return err
	}
	scfg.ID, scfg.Reader = l.ID(), l.Reader()
	srv := ledger.NewServer(scfg)
	srv.SetWriter(l)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(logw, "btt-ledger: ledger %s treasury %s listening on http://%s\n", l.ID(), cfg.Treasury, ln.Addr())
	return run(ctx, ln, srv, logw, func(runCtx context.Context) error { return writer(runCtx, l, nil, logw) })
}

func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// run serves HTTP on ln until ctx ends or work returns; work's error (a writer that
// stopped) ends the process with it: a ledger never keeps answering without its writer.
func run(ctx context.Context, ln net.Listener, h http.Handler, logw io.Writer, work func(context.Context) error) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(logw, "btt-ledger: http: ", 0),
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	workErr := make(chan error, 1)
	go func() {
		err := work(runCtx)
		cancel()
		workErr <- err
	}()
	go func() {
		<-runCtx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		srv.Shutdown(sctx)
	}()
	serveErr := srv.Serve(ln)
	cancel()
	err := <-workErr
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil // asked to stop
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, err)
}

// writer runs l's writer until ctx ends, the writer fails (a commit did not go through:
// memory is ahead of the store) or lost closes (another process may be writing now), and
// says why on the log.
func writer(ctx context.Context, l *ledger.Ledger, lost <-chan struct{}, logw io.Writer) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Run(wctx) }()
	var err error
	select {
	case err = <-done:
	case <-lost:
		cancel()
		<-done
		err = errors.New("lost the writer lock (database session ended); another process may be the writer now")
	}
	st := l.Stats()
	fmt.Fprintf(logw, "btt-ledger: %d operations, %d batches, %d commits (%.1f ops/commit, %v/commit), largest batch %d\n",
		st.Ops, st.Batches, st.Commits, float64(st.Ops)/float64(max(st.Commits, 1)),
		(st.CommitTime / time.Duration(max(st.Commits, 1))).Round(time.Microsecond), st.MaxBatchSeen)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(logw, "btt-ledger: FATAL: writer stopped: %v; exiting (restart reloads the committed state)\n", err)
		return fmt.Errorf("writer stopped: %w", err)
	}
	return err
}

// servePostgres runs one of possibly several processes sharing a database: it answers
// reads from the database as a standby until the database elects it writer, then loads
// the state and writes until it fails or loses the election (and then exits).
func servePostgres(ctx context.Context, url, listen string, cfg ledger.Config, scfg ledger.ServerConfig, logw io.Writer) error {
	store, err := pgstore.Open(ctx, url)
	if err != nil {
		return err
	}
	defer store.Close()
	elected := make(chan error, 1)
	go func() { elected <- store.Elect(ctx) }()
	// Serve reads as soon as the ledger exists; before the genesis only the writer can start.
	var srv *ledger.Server
	tick := time.NewTicker(pgstore.ElectPoll)
	defer tick.Stop()
	var electErr error
	isWriter := false
	for srv == nil && !isWriter {
		select {
		case electErr = <-elected:
			if electErr != nil {
				return electErr
			}
			isWriter = true
		case <-tick.C:
			m, err := store.Meta(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				continue // database down or restarting: keep waiting
			}
			if m != nil {
				scfg.ID, scfg.Reader = m.LedgerID, store
				srv = ledger.NewServer(scfg)
			}
		}
	}
	var l *ledger.Ledger
	if isWriter {
		if l, err = ledger.Open(ctx, store, cfg); err != nil {
			return err
		}
		scfg.ID, scfg.Reader = l.ID(), l.Reader()
		srv = ledger.NewServer(scfg)
		srv.SetWriter(l)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	role := "standby (reads; writes go to the writer)"
	if isWriter {
		role = fmt.Sprintf("writer (epoch %d)", store.Epoch())
	}
	fmt.Fprintf(logw, "btt-ledger: ledger %s on PostgreSQL, %s, listening on http://%s\n", scfg.ID, role, ln.Addr())
	return run(ctx, ln, srv, logw, func(runCtx context.Context) error {
		if l == nil {
			select {
			case err := <-elected:
				if err != nil {
					return err
				}
			case <-runCtx.Done():
				return runCtx.Err()
			}
			t0 := time.Now()
			var err error
			if l, err = ledger.Open(runCtx, store, cfg); err != nil {
				return fmt.Errorf("load after election: %w", err)
			}
			srv.SetWriter(l)
			fmt.Fprintf(logw, "btt-ledger: elected writer (epoch %d), state loaded in %v\n", store.Epoch(), time.Since(t0).Round(time.Millisecond))
		}
		return writer(runCtx, l, store.Lost(), logw)
	})
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
