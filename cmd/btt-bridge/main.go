// Command btt-bridge moves BTT between a Speed ledger and the TRON chain (package
// channel/bridge): it pays users' withdrawals from its hot wallet with TRC-10 transfers and
// credits the deposits users send to that wallet, naming their ledger address in the memo.
//
//	btt-bridge new-key --key bridge.key [--password-file F]
//	btt-bridge --ledger URL --node URL --key bridge.key [--password-file F] [--confirmations 19]
//
// The key signs both the TRON transactions (its TRON address is the hot wallet) and the
// bridge's reports to the ledger, which must be started with --bridge set to its address.
// The key file must be encrypted; the password comes from --password-file or
// BTT_WALLET_PASSWORD. The node URL is a TRON full node's HTTP API (java-tron, port 8090).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/bridge"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/tron"
	"github.com/speedbt/btt/channel/wallet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "btt-bridge:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "new-key" {
		return newKey(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("btt-bridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ledgerURL := fs.String("ledger", "", "ledger URL, e.g. http://127.0.0.1:7000")
	nodeURL := fs.String("node", "", "TRON full node HTTP API URL, e.g. http://127.0.0.1:8090")
	keyFile := fs.String("key", "", "the bridge's encrypted key file (btt-bridge new-key)")
	passFile := fs.String("password-file", "", "file whose first line is the key's password (or set "+wallet.PasswordEnv+")")
	cfg := bridge.DefaultConfig()
	fs.Int64Var(&cfg.Confirmations, "confirmations", cfg.Confirmations, "blocks on top of a block before its transactions count")
	fs.DurationVar(&cfg.Expiration, "expiration", cfg.Expiration, "lifetime of a withdrawal transaction (at most 24h)")
	fs.DurationVar(&cfg.Poll, "poll", cfg.Poll, "how often to look at the ledger and the chain")
	fs.Int64Var(&cfg.StartHeight, "start-height", 0, "first block to scan for deposits when the ledger has none recorded (0: the head)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ledgerURL == "" || *nodeURL == "" || *keyFile == "" || fs.NArg() != 0 {
		return errors.New("want --ledger URL --node URL --key FILE")
	}
	key, err := loadKey(*keyFile, *passFile)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "btt-bridge: ", log.LstdFlags)
	cfg.Logf = logger.Printf
	hc := &http.Client{Timeout: 30 * time.Second}
	b, err := bridge.New(cfg, ledger.NewClient(*ledgerURL, hc), tron.NewHTTPNode(*nodeURL, hc), key)
	if err != nil {
		return err
	}
	logger.Printf("bridge %s: ledger %s, node %s, %d confirmations", b.Address(), *ledgerURL, *nodeURL, cfg.Confirmations)
	return b.Run(ctx)
}

// loadKey reads the bridge key, which must be encrypted: it controls the hot wallet.
func loadKey(path, passFile string) (*channel.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	in, err := wallet.Inspect(b)
	if err != nil {
		return nil, err
	}
	if !in.Encrypted {
		return nil, fmt.Errorf("%s is not encrypted: the bridge key controls the hot wallet (make one with btt-bridge new-key)", path)
	}
	pw, err := wallet.ReadPassword(passFile)
	if err != nil {
		return nil, err
	}
	return wallet.Decode(b, pw)
}

func newKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("btt-bridge new-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "key file to create")
	passFile := fs.String("password-file", "", "file whose first line is the password (or set "+wallet.PasswordEnv+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyFile == "" {
		return errors.New("want --key FILE")
	}
	pw, err := wallet.ReadPassword(*passFile)
	if err != nil {
		return err
	}
	if len(pw) == 0 {
		return errors.New("the bridge key must be encrypted: give a password (--password-file or " + wallet.PasswordEnv + ")")
	}
	k, err := channel.GenerateKey()
	if err != nil {
		return err
	}
	if err := wallet.Save(*keyFile, k, pw); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "address: %s\n", k.Address())
	return nil
}
