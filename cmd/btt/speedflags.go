package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/peer"
)

// speedFlags are the user's Speed controls. Speed is off unless --speed is given.
type speedFlags struct {
	on           bool
	balance      string
	spendingRate float64
	noSell       bool
	noBid        bool
	reserveGrace string
	reserveStart string
	reserveCap   string
	wallet       string
	ledger       string
	passwordFile string
	budget       string
	maxPrice     string
	state        string

	// ledgerHTTP, if set, carries every ledger call (btt daemon measures them); not a flag.
	ledgerHTTP *http.Client
}

func (f *speedFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "speed", false, "take part in Speed: bid for upload slots, sell ours by auction")
	fs.StringVar(&f.balance, "balance", "0", "with --speed and no wallet: the balance (BTT) auto-bid spends from")
	fs.Float64Var(&f.spendingRate, "spending-rate", 1.0, "without --budget: the budget is this fraction (0..1) of the wallet's balance at start")
	fs.StringVar(&f.budget, "budget", "", "most this session may spend, in BTT, over every torrent, deposits included (default: --spending-rate x balance)")
	fs.StringVar(&f.maxPrice, "max-price", "", "highest price auto-bid offers, in BTT per GiB (default: no cap)")
	fs.StringVar(&f.state, "state-dir", "", "with --speed and --wallet: where vouchers we were paid are kept until settled (default: the wallet's directory)")
	fs.BoolVar(&f.noBid, "no-bid", false, "with --speed: do not bid (still sell)")
	fs.BoolVar(&f.noSell, "no-sell", false, "with --speed: do not auction upload slots (still bid)")
	fs.StringVar(&f.reserveGrace, "reserve-grace", "", "time with no other known holder before the reserve price rises (default 24h)")
	fs.StringVar(&f.reserveStart, "reserve-start", "", "reserve price (BTT/GiB) once the grace period ends (default 0.1)")
	fs.StringVar(&f.wallet, "wallet", "", "with --speed: the wallet key file that pays and is paid")
	fs.StringVar(&f.ledger, "ledger", "", "with --speed: the ledger's URL, or a comma-separated list of its processes' URLs (the client fails over between them); we are paid on this ledger and pay only on it (a provider naming another is refused)")
	fs.StringVar(&f.passwordFile, "password-file", "", "file whose first line is the wallet password (or set "+wallet.PasswordEnv+")")
	fs.StringVar(&f.reserveCap, "reserve-cap", "", "highest reserve price (BTT/GiB; default 100; 0 means no reserve)")
}

// config builds the session's Speed settings. With a wallet, the balance auto-bid spends from
// is the wallet's on the ledger, refreshed in the background until ctx ends.
func (f *speedFlags) config(ctx context.Context) (peer.SpeedConfig, error) {
	if !f.on {
		return peer.SpeedConfig{}, nil
	}
	s := bidext.DefaultSettings()
	s.Enabled = true
	s.AutoBid = !f.noBid
	s.Sell = !f.noSell
	if f.spendingRate < 0 || f.spendingRate > 1 {
		return peer.SpeedConfig{}, usagef("--spending-rate %v is not within 0..1", f.spendingRate)
	}
	s.SpendingRate = uint32(f.spendingRate*bidext.PPM + 0.5)
	if f.reserveGrace != "" {
		d, err := parseDuration(f.reserveGrace)
		if err != nil {
			return peer.SpeedConfig{}, usagef("--reserve-grace: %v", err)
		}
		s.Reserve.Grace = d
	}
	for _, r := range []struct {
		flag, v string
		dst     *uint64
	}{{"--reserve-start", f.reserveStart, &s.Reserve.Start}, {"--reserve-cap", f.reserveCap, &s.Reserve.Cap}} {
		if r.v == "" {
			continue
		}
		units, err := channel.ParseBTT(r.v)
		if err != nil {
			return peer.SpeedConfig{}, usagef("%s: %v", r.flag, err)
		}
		*r.dst = units
	}
	balance, err := channel.ParseBTT(f.balance)
	if err != nil {
		return peer.SpeedConfig{}, usagef("--balance: %v", err)
	}
	var ledgers []string
	for _, l := range strings.Split(f.ledger, ",") {
		if l = strings.TrimSpace(l); l != "" {
			ledgers = append(ledgers, l)
		}
	}
	cfg := peer.SpeedConfig{Settings: s, Ledgers: ledgers, Balance: func() uint64 { return balance }}
	// One ledger, possibly served by several processes: we name all of them to the requesters
	// we sell to (their client fails over between them) and pay only on these URLs.
	cfg.Ledger = strings.Join(ledgers, ",")
	for _, r := range []struct {
		flag, v string
		dst     *uint64
	}{{"--budget", f.budget, &cfg.Budget}, {"--max-price", f.maxPrice, &cfg.MaxPrice}} {
		if r.v == "" {
			continue
		}
		units, err := channel.ParseBTT(r.v)
		if err != nil {
			return peer.SpeedConfig{}, usagef("%s: %v", r.flag, err)
		}
		*r.dst = units
	}
	if f.wallet == "" {
		return cfg, nil
	}
	if f.ledger == "" {
		return peer.SpeedConfig{}, usageError("--wallet needs --ledger")
	}
	if _, err := ledger.ParseURLs(f.ledger); err != nil {
		return peer.SpeedConfig{}, usageError("--ledger: " + err.Error())
	}
	pw, err := wallet.ReadPassword(f.passwordFile)
	if err != nil {
		return peer.SpeedConfig{}, err
	}
	key, err := wallet.Load(f.wallet, pw)
	if err != nil {
		return peer.SpeedConfig{}, err
	}
	cfg.Wallet = key
	cfg.LedgerHTTP = f.ledgerHTTP
	cfg.Balance = ledgerBalance(ctx, ledger.NewClient(cfg.Ledger, f.ledgerHTTP), key.Address())
	return cfg, nil
}

// stateDir is where the session keeps vouchers until they are settled: --state-dir, else
// the wallet's directory (the log is named after the wallet's address).
func (f *speedFlags) stateDir() string {
	if !f.on || f.wallet == "" {
		return ""
	}
	if f.state != "" {
		return f.state
	}
	return filepath.Dir(f.wallet)
}

// ledgerBalance returns a func reporting the account's balance as last read from the ledger;
// a goroutine refreshes it every few seconds until ctx ends.
func ledgerBalance(ctx context.Context, cl *ledger.Client, a channel.Address) func() uint64 {
	var v atomic.Uint64
	read := func() {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if acct, err := cl.Balance(rctx, a); err == nil {
			v.Store(uint64(acct.Balance))
		}
	}
	read()
	go func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				read()
			}
		}
	}()
	return v.Load
}

func parseDuration(s string) (d time.Duration, err error) {
	d, err = time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 24h or 90m", s)
	}
	return d, nil
}
