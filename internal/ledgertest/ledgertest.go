// Package ledgertest runs a real ledger inside a test process: a bbolt store in the test's
// temporary directory, the ledger's loop, and its HTTP API on loopback. Tests of the wallet
// command, the bridge, the fuzz targets and the Speed market share it rather than each
// wiring its own; everything stops when the test ends.
package ledgertest

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
)

// Ledger is a running ledger. Treasury holds the genesis supply.
type Ledger struct {
	*ledger.Ledger
	Treasury *channel.PrivateKey
}

// Open opens a ledger on a fresh bbolt file and runs its loop until the test ends. The
// treasury is treasury, or a new key when it is nil; configure, when not nil, adjusts the
// configuration (ledger.DefaultConfig with that treasury) before the ledger opens.
func Open(tb testing.TB, treasury *channel.PrivateKey, configure func(*ledger.Config)) *Ledger {
	tb.Helper()
	if treasury == nil {
		var err error
		if treasury, err = channel.GenerateKey(); err != nil {
			tb.Fatal(err)
		}
	}
	st, err := boltstore.Open(filepath.Join(tb.TempDir(), "ledger.db"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := ledger.DefaultConfig()
	cfg.Treasury = treasury.Address()
	if configure != nil {
		configure(&cfg)
	}
	l, err := ledger.Open(context.Background(), st, cfg)
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done; st.Close() })
	return &Ledger{Ledger: l, Treasury: treasury}
}

// Server is a Ledger behind its HTTP API on loopback, with a client of it.
type Server struct {
	*Ledger
	URL    string
	Client *ledger.Client
}

// Start is Open, then serves the ledger's HTTP API on loopback until the test ends.
func Start(tb testing.TB, treasury *channel.PrivateKey, configure func(*ledger.Config)) *Server {
	tb.Helper()
	l := Open(tb, treasury, configure)
	srv := httptest.NewServer(ledger.NewHandler(l.Ledger))
	tb.Cleanup(srv.Close) // before the ledger stops: cleanups run last first
	return &Server{Ledger: l, URL: srv.URL, Client: ledger.NewClient(srv.URL, srv.Client())}
}

// FundedKey creates an account on the ledger cl talks to and moves units base units into
// it from treasury (none when units is 0), and returns its key.
func FundedKey(tb testing.TB, cl *ledger.Client, treasury *channel.PrivateKey, units uint64) *channel.PrivateKey {
	tb.Helper()
	k, err := channel.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.CreateAccount(ctx, k); err != nil {
		tb.Fatal(err)
	}
	if units > 0 {
		if _, err := cl.Transfer(ctx, treasury, k.Address(), units); err != nil {
			tb.Fatal(err)
		}
	}
	return k
}

// Funded is FundedKey on this server, paid by its treasury.
func (s *Server) Funded(tb testing.TB, units uint64) *channel.PrivateKey {
	tb.Helper()
	return FundedKey(tb, s.Client, s.Treasury, units)
}
