package pgstore

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/internal/testutil"
)

// TestMigrate opens a database that a version-1 binary left (its tables, a ledger in them):
// the store brings the schema to the newest version and loads the ledger. A database newer
// than the binary is refused.
func TestMigrate(t *testing.T) {
	pg := testutil.StartPostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id channel.LedgerID
	id[0] = 7
	var treasury channel.Address
	treasury[0], treasury[20] = channel.AddressPrefix, 9
	for _, q := range []string{`CREATE TABLE btt_schema (version integer NOT NULL)`, `INSERT INTO btt_schema (version) VALUES (1)`, migrations[0]} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("version 1 schema: %v", err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO ledger_meta (one, ledger_id, treasury, faucet_issued) VALUES (true, $1, $2, 0)`, id[:], treasury[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO ledger_accounts (address, balance, faucet_claims) VALUES ($1, $2, 0)`, treasury[:], int64(channel.GenesisSupply)); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, pg.URL)
	if err != nil {
		t.Fatalf("open a version 1 database: %v", err)
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT version FROM btt_schema`).Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("schema version %d (%v), want %d", v, err, len(migrations))
	}
	d, err := s.Load(ctx) // reads the bridge's tables too: they exist now
	if err != nil {
		t.Fatal(err)
	}
	if d.Meta == nil || d.Meta.LedgerID != id || d.Accounts[treasury].Balance != channel.GenesisSupply {
		t.Fatalf("loaded %+v, accounts %v", d.Meta, d.Accounts)
	}
	s.Close()

	if _, err := conn.Exec(ctx, `UPDATE btt_schema SET version = $1`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, pg.URL); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("open of a newer schema: %v, want a refusal", err)
	}
}
