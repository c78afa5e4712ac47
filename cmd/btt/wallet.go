package main

import (
	"context"
	"errors"
	"os"

	"github.com/speedbt/btt/channel/wallet"
)

// runWallet implements "btt wallet new|show|balance|faucet|transfer|withdraw|deposit-address|history"; the work is in
// package channel/wallet so that it is tested there.
func runWallet(ctx context.Context, args []string) error {
	err := wallet.Run(ctx, args, os.Stdout, os.Stderr)
	if ue, ok := errors.AsType[*wallet.UsageError](err); ok {
		return usagef("%s", ue.Msg)
	}
	return err
}
