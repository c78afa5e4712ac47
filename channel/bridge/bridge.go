// Package bridge moves BTT between the ledger and the TRON chain, where BTT is the TRC-10
// token 1002000. It is stateless: every decision is recorded in the ledger before it acts,
// so a bridge killed at any moment resumes from the ledger and each withdrawal and each
// deposit moves exactly once.
//
// Withdrawal: a user's signed withdrawal debits the ledger (tokens in flight). The bridge
// builds a TransferAssetContract from its hot wallet to the user's TRON address, signs it,
// records the signed transaction in the ledger, and only then broadcasts it; after a crash it
// broadcasts the recorded transaction again (a node answers a duplicate as such). Once the
// transaction is in a block with Confirmations blocks on top, the bridge confirms the
// withdrawal. A transaction that expired without being included is replaced by a new one
// (the next attempt), which the ledger accepts only if stamped after the old one expired.
//
// Deposit: users send BTT on chain to the bridge's address with their ledger address as the
// memo. The bridge reads every block once it has Confirmations blocks on top and reports
// each transfer to it; the ledger records each transaction id once and credits the account
// the memo names. The last reported block (number and id) is kept in the ledger: if that
// block is no longer on the chain, a reorganisation went deeper than the confirmations and
// the bridge stops (ErrDeepReorg) rather than guess.
//
// The bridge trusts its node for what is on the chain, within limits it checks: every
// transaction's id is the hash of its bytes, its signature is its owner's, a withdrawal's
// inclusion is checked in the block the node names, and blocks link to their parents.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/tron"
)

// Config tunes the bridge.
type Config struct {
	// Confirmations is how many blocks must be built on a block before its transactions
	// count. TRON's blocks are final ("solidified") after 19 of its 27 producers confirmed
	// them, about 57 s; 19 is the default.
	Confirmations int64
	// Expiration is the lifetime of a withdrawal's transaction from its reference block.
	// java-tron's own default is 60 s; at most 24 h.
	Expiration time.Duration
	// Poll is how often Run takes a step.
	Poll time.Duration
	// MaxBlocks bounds the blocks read in one step, so a bridge far behind still reports
	// progress often.
	MaxBlocks int64
	// StartHeight is the first block to scan for deposits when the ledger has none recorded
	// (0: Confirmations below the head at the first start).
	StartHeight int64
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logf receives one line per action (nil: silent).
	Logf func(format string, args ...any)
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Confirmations: 19, Expiration: 60 * time.Second, Poll: 3 * time.Second, MaxBlocks: 200}
}

// ErrDeepReorg means the last block the bridge reported deposits from is no longer on the
// chain: a reorganisation deeper than the confirmations. Deposits already credited stay
// credited (each once); an operator must look before the bridge goes on.
var ErrDeepReorg = errors.New("bridge: reorganisation deeper than the confirmations")

// Bridge is one bridge process. It holds no state of its own between steps.
type Bridge struct {
	cfg    Config
	ledger *ledger.Client
	node   tron.Node
	key    *channel.PrivateKey
	addr   channel.Address
}

// New returns a bridge signing with key (its TRON hot wallet and its ledger identity).
func New(cfg Config, l *ledger.Client, node tron.Node, key *channel.PrivateKey) (*Bridge, error) {
	if cfg.Confirmations < 1 || cfg.Expiration <= 0 || cfg.Expiration > 24*time.Hour || cfg.Poll <= 0 || cfg.MaxBlocks < 1 {
		return nil, errors.New("bridge: Confirmations, MaxBlocks >= 1, Poll > 0 and 0 < Expiration <= 24h required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Bridge{cfg: cfg, ledger: l, node: node, key: key, addr: key.Address()}, nil
}

// Address is the bridge's TRON address: where deposits go.
func (b *Bridge) Address() channel.Address { return b.addr }

// Run takes a step every Poll until ctx ends or the chain reorganised deeper than the
// confirmations. Other errors (a node or ledger not answering) are logged and retried.
func (b *Bridge) Run(ctx context.Context) error {
	t := time.NewTicker(b.cfg.Poll)
	defer t.Stop()
	for {
		if err := b.Step(ctx); err != nil {
			if errors.Is(err, ErrDeepReorg) || ctx.Err() != nil {
				return err
			}
			b.cfg.Logf("step: %v", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Step moves every open withdrawal one state forward where it can, then reports the
// deposits of the blocks that became confirmed.
func (b *Bridge) Step(ctx context.Context) error {
	info, err := b.ledger.Bridge(ctx)
	if err != nil {
		return fmt.Errorf("bridge: ledger: %w", err)
	}
	if info.Bridge != b.addr {
		return fmt.Errorf("bridge: the ledger's bridge is %s, this key is %s", info.Bridge, b.addr)
	}
	head, err := b.node.NowBlock(ctx)
	if err != nil {
		return fmt.Errorf("bridge: node: %w", err)
	}
	var errs []error
	for i := range info.Open {
		if err := b.withdrawal(ctx, &info.Open[i], head); err != nil {
			errs = append(errs, fmt.Errorf("withdrawal %s: %w", info.Open[i].ID, err))
		}
	}
	if err := b.deposits(ctx, &info, head); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
