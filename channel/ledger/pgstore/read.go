package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

// The reads of a standby process (ledger.Reader), straight from the committed tables. Each
// is one indexed query, except Summary, which sums the accounts (O(accounts): a standby's
// GET /v1/info is computed at most once a second, and the writer answers it in O(1)).

// Account reads one account.
func (s *Store) Account(ctx context.Context, a channel.Address) (ledger.AccountState, bool, error) {
	var bal int64
	var claims int32
	err := s.pool.QueryRow(ctx, `SELECT balance, faucet_claims FROM ledger_accounts WHERE address = $1`, a[:]).Scan(&bal, &claims)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.AccountState{}, false, nil
	}
	if err != nil {
		return ledger.AccountState{}, false, fmt.Errorf("pgstore: account: %w", err)
	}
	return ledger.AccountState{Balance: uint64(bal), FaucetClaims: uint32(claims)}, true, nil
}

// Channel reads one channel.
func (s *Store) Channel(ctx context.Context, id channel.ChannelID) (ledger.Channel, bool, error) {
	var body []byte
	err := s.pool.QueryRow(ctx, `SELECT body FROM ledger_channels WHERE id = $1`, id[:]).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Channel{}, false, nil
	}
	if err != nil {
		return ledger.Channel{}, false, fmt.Errorf("pgstore: channel: %w", err)
	}
	var c ledger.Channel
	if err := json.Unmarshal(body, &c); err != nil {
		return ledger.Channel{}, false, fmt.Errorf("%w: channel %s: %v", ErrCorrupt, id, err)
	}
	return c, true, nil
}

// Channels reads one page of an address's channels.
func (s *Store) Channels(ctx context.Context, a channel.Address, after ledger.Cursor, limit int) ([]ledger.Channel, error) {
	rows, _ := s.pool.Query(ctx, `SELECT body FROM ledger_channels
		WHERE (payer_address = $1 OR payee_address = $1) AND (opened_at, id) > ($2, $3)
		ORDER BY opened_at, id LIMIT $4`, a[:], after.OpenedAt, after.ID[:], limit)
	var out []ledger.Channel
	var body []byte
	_, err := pgx.ForEachRow(rows, []any{&body}, func() error {
		var c ledger.Channel
		if err := json.Unmarshal(body, &c); err != nil {
			return fmt.Errorf("%w: channel: %v", ErrCorrupt, err)
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: channels: %w", err)
	}
	return out, nil
}

// summaryTTL is how long a standby reuses a summary: GET /v1/info then costs the database
// one O(accounts) scan per second however many clients ask.
const summaryTTL = time.Second

// Summary reads the meta and sums the state in one snapshot (reused for summaryTTL).
func (s *Store) Summary(ctx context.Context) (ledger.Summary, error) {
	s.sumMu.Lock()
	defer s.sumMu.Unlock()
	if !s.sumAt.IsZero() && time.Since(s.sumAt) < summaryTTL {
		return s.sum, nil
	}
	sum, err := s.summary(ctx)
	if err == nil {
		s.sum, s.sumAt = sum, time.Now()
	}
	return sum, err
}

func (s *Store) summary(ctx context.Context) (ledger.Summary, error) {
	var sum ledger.Summary
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		m, err := loadMeta(ctx, tx)
		if err != nil {
			return err
		}
		if m == nil {
			return errors.New("pgstore: ledger not initialised yet")
		}
		sum.Meta = *m
		var bal, dep int64
		if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(balance), 0)::bigint FROM ledger_accounts`).Scan(&sum.Accounts, &bal); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(amount), 0)::bigint FROM ledger_channels WHERE status = 'open'`).Scan(&sum.OpenChannels, &dep); err != nil {
			return err
		}
		sum.Total = uint64(bal) + uint64(dep)
		return nil
	})
	if err != nil {
		return ledger.Summary{}, fmt.Errorf("pgstore: summary: %w", err)
	}
	return sum, nil
}

// Meta reads the ledger's identity; nil before the genesis.
func (s *Store) Meta(ctx context.Context) (*ledger.Meta, error) {
	var m *ledger.Meta
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		m, err = loadMeta(ctx, tx)
		return err
	})
	return m, err
}
