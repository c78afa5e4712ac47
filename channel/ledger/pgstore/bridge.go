package pgstore

// The TRON bridge's part of the PostgreSQL store: its tables are migration 2, Store.Load
// calls loadBridge inside its read transaction and Store.Commit queues queueBridge's
// statements in the commit's batch. Tested by TestBridgeRecords (docs/bridge.md).

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/speedbt/btt/channel/ledger"
)

// bridgeSchema is the TRON bridge's records (docs/bridge.md): its counters, withdrawals by
// id and deposits by on-chain transaction id, each kept as the JSON the ledger answers, with
// the arrival order (seq) beside it.
const bridgeSchema = `CREATE TABLE ledger_bridge (
		one boolean PRIMARY KEY DEFAULT true CHECK (one),
		body bytea NOT NULL
	);
	CREATE TABLE ledger_withdrawals (
		id bytea PRIMARY KEY CHECK (length(id) = 32),
		seq bigint NOT NULL,
		body bytea NOT NULL
	);
	CREATE TABLE ledger_deposits (
		txid bytea PRIMARY KEY CHECK (length(txid) = 32),
		seq bigint NOT NULL,
		body bytea NOT NULL
	);`

// queueBridge adds the bridge's changes of d to a commit's batch.
func queueBridge(b *pgx.Batch, d *ledger.Data) error {
	if d.Bridge != nil {
		body, err := json.Marshal(d.Bridge)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO ledger_bridge (one, body) VALUES (true, $1) ON CONFLICT (one) DO UPDATE SET body = excluded.body`, body)
	}
	if n := len(d.Withdrawals); n > 0 {
		ids, seqs, bodies := make([][]byte, 0, n), make([]int64, 0, n), make([][]byte, 0, n)
		for i := range d.Withdrawals {
			w := &d.Withdrawals[i]
			body, err := json.Marshal(w)
			if err != nil {
				return err
			}
			if w.Seq > math.MaxInt64 {
				return fmt.Errorf("pgstore: withdrawal %s seq out of range", w.ID)
			}
			ids, seqs, bodies = append(ids, w.ID[:]), append(seqs, int64(w.Seq)), append(bodies, body)
		}
		b.Queue(`INSERT INTO ledger_withdrawals (id, seq, body) SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[])
			ON CONFLICT (id) DO UPDATE SET body = excluded.body`, ids, seqs, bodies)
	}
	if n := len(d.Deposits); n > 0 {
		ids, seqs, bodies := make([][]byte, 0, n), make([]int64, 0, n), make([][]byte, 0, n)
		for i := range d.Deposits {
			dp := &d.Deposits[i]
			body, err := json.Marshal(dp)
			if err != nil {
				return err
			}
			if dp.Seq > math.MaxInt64 {
				return fmt.Errorf("pgstore: deposit %s seq out of range", dp.TxID)
			}
			ids, seqs, bodies = append(ids, dp.TxID[:]), append(seqs, int64(dp.Seq)), append(bodies, body)
		}
		b.Queue(`INSERT INTO ledger_deposits (txid, seq, body) SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[])
			ON CONFLICT (txid) DO UPDATE SET body = excluded.body`, ids, seqs, bodies)
	}
	return nil
}

// loadBridge reads the bridge's records into d.
func loadBridge(ctx context.Context, tx pgx.Tx, d *ledger.Data) error {
	var body []byte
	err := tx.QueryRow(ctx, `SELECT body FROM ledger_bridge`).Scan(&body)
	switch {
	case err == pgx.ErrNoRows:
	case err != nil:
		return fmt.Errorf("pgstore: load bridge: %w", err)
	default:
		var m ledger.BridgeMeta
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("pgstore: corrupt bridge meta: %v", err)
		}
		d.Bridge = &m
	}
	var id []byte
	rows, _ := tx.Query(ctx, `SELECT id, body FROM ledger_withdrawals ORDER BY seq`)
	_, err = pgx.ForEachRow(rows, []any{&id, &body}, func() error {
		var w ledger.Withdrawal
		if err := json.Unmarshal(body, &w); err != nil || string(w.ID[:]) != string(id) {
			return fmt.Errorf("pgstore: corrupt withdrawal %x: %v", id, err)
		}
		d.Withdrawals = append(d.Withdrawals, w)
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: load withdrawals: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT txid, body FROM ledger_deposits ORDER BY seq`)
	_, err = pgx.ForEachRow(rows, []any{&id, &body}, func() error {
		var dp ledger.Deposit
		if err := json.Unmarshal(body, &dp); err != nil || string(dp.TxID[:]) != string(id) {
			return fmt.Errorf("pgstore: corrupt deposit %x: %v", id, err)
		}
		d.Deposits = append(d.Deposits, dp)
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: load deposits: %w", err)
	}
	return nil
}
