package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/tron"
	"github.com/speedbt/btt/channel/wallet"
)

// walletBridge implements "btt wallet withdraw|deposit-address|history": moving tokens to and
// from the TRON chain through the ledger's bridge.
func walletBridge(ctx context.Context, sub string, c *ledger.Client, walletPath, to, amount string,
	key func() (*channel.PrivateKey, error), stdout io.Writer) error {
	address := func() (channel.Address, error) {
		in, err := wallet.InspectFile(walletPath)
		return in.Address, err
	}
	switch sub {
	case "withdraw":
		dest, err := channel.ParseAddress(to)
		if err != nil {
			return usagef("--to: want a TRON address: %v", err)
		}
		units, err := channel.ParseBTT(amount)
		if err != nil || units == 0 {
			return usagef("--amount %q: want a positive BTT amount with at most 6 decimals", amount)
		}
		k, err := key()
		if err != nil {
			return err
		}
		w, err := c.Withdraw(ctx, k, dest, units)
		if err != nil {
			return err
		}
		acc, err := c.Balance(ctx, k.Address())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "withdrawal: %s\nto: %s\namount: %s BTT\nstatus: %s\nbalance: %s BTT\n", w.ID, w.To,
			channel.FormatBTT(uint64(w.Amount)), w.Status, channel.FormatBTT(uint64(acc.Balance)))
		return nil
	case "deposit-address":
		a, err := address()
		if err != nil {
			return err
		}
		b, err := c.Bridge(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deposit address: %s\nmemo: %s\nasset: %s (BTT, TRC-10)\n", b.Bridge, a, tron.BTTAsset)
		fmt.Fprintf(stdout, "send BTT on TRON to the deposit address with the memo exactly as above; without it the deposit is not credited\n")
		return nil
	case "history":
		a, err := address()
		if err != nil {
			return err
		}
		h, err := c.History(ctx, a)
		if err != nil {
			return err
		}
		for _, w := range h.Withdrawals {
			fmt.Fprintf(stdout, "withdrawal %s: %s BTT to %s, %s", w.ID, channel.FormatBTT(uint64(w.Amount)), w.To, w.Status)
			if !w.TxID.IsZero() {
				fmt.Fprintf(stdout, ", transaction %s", w.TxID)
			}
			if w.Block > 0 {
				fmt.Fprintf(stdout, ", block %d", w.Block)
			}
			fmt.Fprintln(stdout)
		}
		for _, d := range h.Deposits {
			memo, _ := hex.DecodeString(d.Memo)
			fmt.Fprintf(stdout, "deposit %s: %s BTT from %s, %s, block %d, memo %q\n", d.TxID,
				channel.FormatBTT(uint64(d.Amount)), d.From, d.Status, d.Block, memo)
		}
		fmt.Fprintf(stdout, "%d withdrawals, %d deposits\n", len(h.Withdrawals), len(h.Deposits))
		return nil
	}
	return usagef("unknown wallet subcommand %q", sub)
}
