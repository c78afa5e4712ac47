package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/peer"
)

// speedFlags are a seeder's Speed controls: it sells its upload slots by auction and is paid
// into its wallet on the ledger. A seeder never bids, so there is no spending rate.
type speedFlags struct {
	on           bool
	wallet       string
	ledger       string
	passwordFile string
	reserveGrace time.Duration
	reserveStart string
	reserveCap   string
}

// stateDir keeps the vouchers we were paid until the ledger confirms their settlement
// (docs/speed-payments.md, rule 8): the wallet's directory, so a restarted seeder settles
// what a killed one accepted.
func (f *speedFlags) stateDir() string {
	if !f.on || f.wallet == "" {
		return ""
	}
	return filepath.Dir(f.wallet)
}

func (f *speedFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "speed", false, "sell upload slots by auction (Speed); needs --wallet and --ledger")
	fs.StringVar(&f.wallet, "wallet", "", "with --speed: the wallet key file that is paid")
	fs.StringVar(&f.ledger, "ledger", "", "with --speed: the ledger's URL, where requesters pay us")
	fs.StringVar(&f.passwordFile, "password-file", "", "file whose first line is the wallet password (or set "+wallet.PasswordEnv+")")
	fs.DurationVar(&f.reserveGrace, "reserve-grace", -1, "time with no other known holder before the reserve price rises (default 24h)")
	fs.StringVar(&f.reserveStart, "reserve-start", "", "reserve price (BTT/GiB) once the grace period ends (default 0.1)")
	fs.StringVar(&f.reserveCap, "reserve-cap", "", "highest reserve price (BTT/GiB; default 100; 0 means no reserve)")
}

// config builds the session's Speed settings; Speed off gives the zero config.
func (f *speedFlags) config() (peer.SpeedConfig, error) {
	if !f.on {
		if f.wallet != "" || f.ledger != "" {
			return peer.SpeedConfig{}, fmt.Errorf("--wallet and --ledger need --speed")
		}
		return peer.SpeedConfig{}, nil
	}
	if f.wallet == "" || f.ledger == "" {
		return peer.SpeedConfig{}, fmt.Errorf("--speed needs --wallet and --ledger: a seeder sells to be paid")
	}
	s := bidext.DefaultSettings()
	s.Enabled = true
	s.AutoBid = false
	s.Sell = true
	if f.reserveGrace >= 0 {
		s.Reserve.Grace = f.reserveGrace
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
			return peer.SpeedConfig{}, fmt.Errorf("%s: %w", r.flag, err)
		}
		*r.dst = units
	}
	pw, err := wallet.ReadPassword(f.passwordFile)
	if err != nil {
		return peer.SpeedConfig{}, err
	}
	key, err := wallet.Load(f.wallet, pw)
	if err != nil {
		return peer.SpeedConfig{}, err
	}
	return peer.SpeedConfig{Settings: s, Wallet: key, Ledger: f.ledger}, nil
}

// earnings is one line per torrent: what its auction sold, what requesters paid in
// vouchers, and what the ledger settled to us.
func earnings(name string, st peer.Stats, sp peer.SpeedStatus) string {
	winners, bidders := 0, 0
	for _, p := range sp.Peers {
		if p.Bid > 0 {
			bidders++
		}
		if p.Paying {
			winners++
		}
	}
	return fmt.Sprintf("earnings %s: earned %s BTT, settled %s BTT, uploaded %d B, bidders %d, paying %d, auction unchokes %d, reserve %s BTT/GiB",
		name, channel.FormatBTT(uint64(max(st.Earned, 0))), channel.FormatBTT(uint64(max(st.Settled, 0))), st.Uploaded,
		bidders, winners, st.AuctionUnchokes, channel.FormatBTT(sp.Reserve))
}
