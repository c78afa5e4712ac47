package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrationLock is the advisory lock key under which processes starting at the same time
// take turns migrating the schema ("bttmigr" in ASCII).
const migrationLock = 0x6274746d69677200

// notWriterCode is the SQLSTATE btt_writer_check raises (class 55, object not in
// prerequisite state; a custom code so that it cannot be confused with PostgreSQL's own).
const notWriterCode = "55B77"

// migrations[i] takes the schema from version i to i+1. Never edit one that shipped: add
// the next.
var migrations = []string{
	// 1: the ledger's tables. Amounts are bigint: the whole supply (9.9e17 units) fits in
	// an int64. Nonces are stored as the bits of the uint64. Channels keep their JSON (the
	// bytes answered to clients) beside the columns that reads and listings filter on.
	`CREATE TABLE ledger_writer (
		one boolean PRIMARY KEY DEFAULT true CHECK (one),
		epoch bigint NOT NULL
	);
	INSERT INTO ledger_writer (one, epoch) VALUES (true, 0);
	CREATE TABLE ledger_meta (
		one boolean PRIMARY KEY DEFAULT true CHECK (one),
		ledger_id bytea NOT NULL CHECK (length(ledger_id) = 32),
		treasury bytea NOT NULL CHECK (length(treasury) = 21),
		faucet_issued bigint NOT NULL CHECK (faucet_issued >= 0),
		faucet_load bigint NOT NULL DEFAULT 0,
		faucet_load_at bigint NOT NULL DEFAULT 0
	);
	CREATE TABLE ledger_accounts (
		address bytea PRIMARY KEY CHECK (length(address) = 21),
		balance bigint NOT NULL CHECK (balance >= 0),
		faucet_claims integer NOT NULL CHECK (faucet_claims >= 0)
	);
	CREATE TABLE ledger_channels (
		id bytea PRIMARY KEY CHECK (length(id) = 32),
		payer_address bytea NOT NULL,
		payee_address bytea NOT NULL,
		status text NOT NULL,
		amount bigint NOT NULL CHECK (amount >= 0),
		opened_at bigint NOT NULL,
		body bytea NOT NULL
	);
	CREATE INDEX ledger_channels_payer ON ledger_channels (payer_address, opened_at, id);
	CREATE INDEX ledger_channels_payee ON ledger_channels (payee_address, opened_at, id);
	CREATE INDEX ledger_channels_open ON ledger_channels (status) WHERE status = 'open';
	CREATE TABLE ledger_receipts (
		account bytea NOT NULL,
		nonce bigint NOT NULL,
		digest bytea NOT NULL CHECK (length(digest) = 32),
		body bytea NOT NULL,
		issued bigint NOT NULL, -- the nonce's time (ledger.NonceTime): what the window expires by
		PRIMARY KEY (account, nonce)
	);
	CREATE INDEX ledger_receipts_issued ON ledger_receipts (issued);
	CREATE FUNCTION btt_writer_check(e bigint) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM 1 FROM ledger_writer WHERE epoch = e AND e > 0 FOR SHARE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'writer epoch % is not the current one: another btt-ledger took over', e
				USING ERRCODE = '` + notWriterCode + `';
		END IF;
	END $$;`,
	// 2: the TRON bridge's records (bridge.go).
	bridgeSchema,
}

// migrate brings the schema to the newest version, under a transaction-scoped advisory
// lock so that concurrent starts take turns.
func (s *Store) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("pgstore: migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS btt_schema (version integer NOT NULL)`); err != nil {
			return fmt.Errorf("pgstore: schema table: %w", err)
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM btt_schema`).Scan(&v)
		if err == pgx.ErrNoRows {
			if _, err := tx.Exec(ctx, `INSERT INTO btt_schema (version) VALUES (0)`); err != nil {
				return err
			}
		} else if err != nil {
			return fmt.Errorf("pgstore: schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("pgstore: database schema version %d is newer than this binary's (%d)", v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("pgstore: migration %d: %w", i+1, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE btt_schema SET version = $1`, len(migrations))
		return err
	})
}
