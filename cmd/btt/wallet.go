package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/wallet"
)

// runWallet is "btt wallet"; see walletMain.
func runWallet(ctx context.Context, args []string) error {
	return walletMain(ctx, args, os.Stdout, os.Stderr)
}

// walletMain implements "btt wallet new|show|balance|faucet|transfer|withdraw|deposit-address|history"
// over the wallet package: it owns the flags and the output. Output lines are "key: value";
// balance prints "balance: <amount> BTT" with 6 decimals.
func walletMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("want a subcommand: new, show, balance, faucet, transfer, withdraw, deposit-address or history")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("btt wallet "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	walletPath := fs.String("wallet", "", "wallet key file")
	ledgerURL := fs.String("ledger", "", "ledger URL, e.g. http://127.0.0.1:7000, or a comma-separated list of its processes' URLs")
	passFile := fs.String("password-file", "", "file whose first line is the wallet password (or set "+wallet.PasswordEnv+")")
	to := fs.String("to", "", "transfer, withdraw: destination address (base58, T...; a TRON address for withdraw)")
	amount := fs.String("amount", "", "transfer, withdraw: amount in BTT, up to 6 decimals")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up on the ledger after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *walletPath == "" {
		return usageError("--wallet FILE is required")
	}
	needLedger := func() (*ledger.Client, error) {
		if *ledgerURL == "" {
			return nil, usageError("--ledger URL is required")
		}
		if _, err := ledger.ParseURLs(*ledgerURL); err != nil {
			return nil, usagef("--ledger: %v", err)
		}
		return ledger.NewClient(*ledgerURL, &http.Client{Timeout: 30 * time.Second}), nil
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	password := func() ([]byte, error) { return wallet.ReadPassword(*passFile) }
	key := func() (*channel.PrivateKey, error) {
		pw, err := password()
		if err != nil {
			return nil, err
		}
		return wallet.Load(*walletPath, pw)
	}

	switch sub {
	case "new":
		pw, err := password()
		if err != nil {
			return err
		}
		k, err := channel.GenerateKey()
		if err != nil {
			return err
		}
		if err := wallet.Save(*walletPath, k, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "address: %s\npublic key: %s\nencrypted: %s\n", k.Address(), k.Public(), yesNo(len(pw) > 0))
		return nil
	case "show":
		in, err := wallet.InspectFile(*walletPath)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "address: %s\npublic key: %s\nencrypted: %s\n", in.Address, in.PublicKey, yesNo(in.Encrypted))
		if *ledgerURL != "" {
			c, _ := needLedger()
			acc, err := c.Balance(ctx, in.Address)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "balance: %s BTT\n", channel.FormatBTT(uint64(acc.Balance)))
		}
		return nil
	case "balance":
		c, err := needLedger()
		if err != nil {
			return err
		}
		in, err := wallet.InspectFile(*walletPath)
		if err != nil {
			return err
		}
		acc, err := c.Balance(ctx, in.Address)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "address: %s\nbalance: %s BTT\n", in.Address, channel.FormatBTT(uint64(acc.Balance)))
		return nil
	case "faucet":
		c, err := needLedger()
		if err != nil {
			return err
		}
		k, err := key()
		if err != nil {
			return err
		}
		r, err := c.Faucet(ctx, k)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "address: %s\nreceived: %s BTT\nbalance: %s BTT\n", r.Address,
			channel.FormatBTT(uint64(r.Amount)), channel.FormatBTT(uint64(r.Balance)))
		return nil
	case "transfer":
		c, err := needLedger()
		if err != nil {
			return err
		}
		dest, err := channel.ParseAddress(*to)
		if err != nil {
			return usagef("--to: %v", err)
		}
		units, err := channel.ParseBTT(*amount)
		if err != nil || units == 0 {
			return usagef("--amount %q: want a positive BTT amount with at most 6 decimals", *amount)
		}
		k, err := key()
		if err != nil {
			return err
		}
		r, err := c.Transfer(ctx, k, dest, units)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "from: %s\nto: %s\nsent: %s BTT\nbalance: %s BTT\n", r.From, r.To,
			channel.FormatBTT(uint64(r.Amount)), channel.FormatBTT(uint64(r.Balance)))
		return nil
	case "withdraw", "deposit-address", "history":
		c, err := needLedger()
		if err != nil {
			return err
		}
		return walletBridge(ctx, sub, c, *walletPath, *to, *amount, key, stdout)
	}
	return usagef("unknown wallet subcommand %q", sub)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
