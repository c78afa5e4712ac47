// Command btt-tracker runs an in-memory BitTorrent tracker over HTTP and UDP
// with Speed's bid-announce and bid-scrape (docs/bep-speed.md section 10).
//
//	btt-tracker --http 127.0.0.1:6969 --udp 127.0.0.1:6969
//	btt-tracker bench --url udp://127.0.0.1:6969/announce --duration 5s
//
// Either listener may be left out (but not both). It prints the URLs it
// serves on standard output, one per line, once it listens, and stops on
// SIGINT or SIGTERM.
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
	"syscall"
	"time"

	"github.com/speedbt/btt/peer/tracker/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		err = runBench(ctx, os.Args[2:], os.Stdout)
	} else {
		err = serve(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "btt-tracker:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, args []string, out, logw io.Writer) error {
	fs := flag.NewFlagSet("btt-tracker", flag.ContinueOnError)
	httpAddr := fs.String("http", "", "address to serve HTTP announces on (ADDR:PORT)")
	udpAddr := fs.String("udp", "", "address to serve UDP announces on (ADDR:PORT)")
	var cfg server.Config
	fs.DurationVar(&cfg.Interval, "interval", 30*time.Minute, "announce interval sent to clients")
	fs.IntVar(&cfg.MaxTorrents, "max-torrents", 100_000, "most torrents held")
	fs.IntVar(&cfg.MaxPeersPerTorrent, "max-peers-per-torrent", 20_000, "most peers held per torrent")
	fs.IntVar(&cfg.MaxPeers, "max-peers", 1_000_000, "most peers held in all")
	fs.Float64Var(&cfg.RatePerSecond, "rate", 20, "requests per second per source IP (negative: no limit)")
	fs.IntVar(&cfg.RateBurst, "burst", 100, "burst of requests per source IP")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *httpAddr == "" && *udpAddr == "" {
		return errors.New("give --http ADDR:PORT, --udp ADDR:PORT or both")
	}
	lg := log.New(logw, "btt-tracker: ", log.LstdFlags)
	tr := server.New(cfg)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	running := 0
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return err
		}
		srv := &http.Server{
			Handler:           &server.HTTPHandler{Tracker: tr},
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          lg,
		}
		context.AfterFunc(ctx, func() { srv.Close() })
		fmt.Fprintf(out, "http://%s/announce\n", ln.Addr())
		running++
		go func() {
			err := srv.Serve(ln)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	if *udpAddr != "" {
		ua, err := net.ResolveUDPAddr("udp", *udpAddr)
		if err != nil {
			return err
		}
		conn, err := net.ListenUDP("udp", ua)
		if err != nil {
			return err
		}
		// Bursts of announces queue in the kernel while the loop works.
		conn.SetReadBuffer(4 << 20)
		fmt.Fprintf(out, "udp://%s/announce\n", conn.LocalAddr())
		running++
		us := server.NewUDPServer(tr)
		go func() { errc <- us.Serve(ctx, conn) }()
	}
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				tr.Sweep(now)
			}
		}
	}()
	var first error
	for ; running > 0; running-- {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	lg.Printf("stopped: %s", tr.Stats())
	return first
}
