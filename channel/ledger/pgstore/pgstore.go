// Package pgstore is the ledger's store on PostgreSQL (pgx): one implicit transaction per
// committed batch, sent as one pipeline (one round trip), durable when PostgreSQL answers
// with synchronous_commit on. Several btt-ledger processes may share one database: the
// database elects the one writer (Elect), and every commit is fenced by the writer's epoch,
// so that a writer that lost its election can never commit again.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

// ErrCorrupt is returned by Load when a stored record does not decode.
var ErrCorrupt = errors.New("pgstore: corrupt record")

// ErrNotWriter means a commit was refused because another process became the writer (the
// epoch moved on) or this store never was elected.
var ErrNotWriter = errors.New("pgstore: not the elected writer")

// Store is a ledger.Store (and a ledger.Reader) in a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	url  string

	// epoch is this process's writer epoch, set once by Elect before the writer starts;
	// the writer goroutine is then the only user of Commit.
	epoch int64
	lock  *pgx.Conn // holds the advisory lock; owned by the watch goroutine after Elect
	lost  chan struct{}
	stop  chan struct{} // closed by Close: the watch goroutine releases the lock

	sumMu sync.Mutex // guards the standby's cached summary
	sum   ledger.Summary
	sumAt time.Time
}

var (
	_ ledger.Store  = (*Store)(nil)
	_ ledger.Reader = (*Store)(nil)
)

// Open connects to the database at url (anything pgx accepts) and creates or migrates the
// schema. Processes may call it at the same time: migrations run under a lock.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	// Reads on a busy standby and the writer's commits share the pool; 16 connections is
	// far more than one writer needs and keeps a shared server's connection budget.
	if cfg.MaxConns > 16 {
		cfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s := &Store{pool: pool, url: url, lost: make(chan struct{}), stop: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connections (releasing the writer lock, if held).
func (s *Store) Close() error {
	close(s.stop)
	if s.lock != nil {
		<-s.lost
	}
	s.pool.Close()
	return nil
}

// Load reads the whole ledger.
func (s *Store) Load(ctx context.Context) (*ledger.Data, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("pgstore: load: %w", err)
	}
	defer tx.Rollback(ctx)
	d := &ledger.Data{Accounts: map[channel.Address]ledger.AccountState{}}
	m, err := loadMeta(ctx, tx)
	if err != nil {
		return nil, err
	}
	d.Meta = m
	rows, _ := tx.Query(ctx, `SELECT address, balance, faucet_claims FROM ledger_accounts`)
	var addr []byte
	var bal int64
	var claims int32
	_, err = pgx.ForEachRow(rows, []any{&addr, &bal, &claims}, func() error {
		if len(addr) != channel.AddressSize || bal < 0 || claims < 0 {
			return fmt.Errorf("%w: account %x", ErrCorrupt, addr)
		}
		d.Accounts[channel.Address(addr)] = ledger.AccountState{Balance: uint64(bal), FaucetClaims: uint32(claims)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: load accounts: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT id, body FROM ledger_channels`)
	var id, body []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &body}, func() error {
		var c ledger.Channel
		if err := json.Unmarshal(body, &c); err != nil || string(c.ID[:]) != string(id) {
			return fmt.Errorf("%w: channel %x: %v", ErrCorrupt, id, err)
		}
		d.Channels = append(d.Channels, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: load channels: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT account, nonce, digest, body FROM ledger_receipts`)
	var nonce int64
	var digest []byte
	_, err = pgx.ForEachRow(rows, []any{&addr, &nonce, &digest, &body}, func() error {
		if len(addr) != channel.AddressSize || len(digest) != 32 {
			return fmt.Errorf("%w: receipt %x/%d", ErrCorrupt, addr, nonce)
		}
		r := ledger.Receipt{Account: channel.Address(addr), Nonce: uint64(nonce), Body: append([]byte(nil), body...)}
		copy(r.Digest[:], digest)
		d.Receipts = append(d.Receipts, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: load receipts: %w", err)
	}
	if err := loadBridge(ctx, tx, d); err != nil {
		return nil, err
	}
	return d, tx.Commit(ctx)
}

func loadMeta(ctx context.Context, q pgx.Tx) (*ledger.Meta, error) {
	var id, tr []byte
	var issued, load, loadAt int64
	err := q.QueryRow(ctx, `SELECT ledger_id, treasury, faucet_issued, faucet_load, faucet_load_at FROM ledger_meta`).Scan(&id, &tr, &issued, &load, &loadAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: load meta: %w", err)
	}
	if len(id) != len(channel.LedgerID{}) || len(tr) != channel.AddressSize || issued < 0 {
		return nil, fmt.Errorf("%w: meta", ErrCorrupt)
	}
	m := &ledger.Meta{Treasury: channel.Address(tr), FaucetIssued: uint64(issued), FaucetLoad: uint64(load), FaucetLoadAt: uint64(loadAt)}
	copy(m.LedgerID[:], id)
	return m, nil
}

// maxInt64 bounds every amount stored in a bigint column. The whole supply (9.9e17) is far
// below it; a value above it would be a bug, refused rather than wrapped.
const maxInt64 = 1<<63 - 1

// Commit writes d in one transaction: the statements go out as one pipeline with a single
// Sync, which PostgreSQL runs as one implicit transaction, so a batch costs one round trip
// and one WAL flush. The first statement checks (and share-locks) the writer epoch: a
// process that lost the election gets ErrNotWriter and changes nothing.
func (s *Store) Commit(ctx context.Context, d *ledger.Data) error {
	b := &pgx.Batch{}
	b.Queue(`SELECT btt_writer_check($1)`, s.epoch)
	if d.Meta != nil {
		if d.Meta.FaucetIssued > maxInt64 || d.Meta.FaucetLoad > maxInt64 || d.Meta.FaucetLoadAt > maxInt64 {
			return fmt.Errorf("pgstore: faucet total %d out of range", d.Meta.FaucetIssued)
		}
		b.Queue(`INSERT INTO ledger_meta (one, ledger_id, treasury, faucet_issued, faucet_load, faucet_load_at) VALUES (true, $1, $2, $3, $4, $5)
			ON CONFLICT (one) DO UPDATE SET faucet_issued = excluded.faucet_issued, faucet_load = excluded.faucet_load,
				faucet_load_at = excluded.faucet_load_at`,
			d.Meta.LedgerID[:], d.Meta.Treasury[:], int64(d.Meta.FaucetIssued), int64(d.Meta.FaucetLoad), int64(d.Meta.FaucetLoadAt))
	}
	if len(d.Accounts) > 0 {
		addrs := make([][]byte, 0, len(d.Accounts))
		bals := make([]int64, 0, len(d.Accounts))
		claims := make([]int32, 0, len(d.Accounts))
		for a, st := range d.Accounts {
			if st.Balance > maxInt64 || st.FaucetClaims > 1<<31-1 {
				return fmt.Errorf("pgstore: account %s out of range", a)
			}
			addrs = append(addrs, a[:])
			bals = append(bals, int64(st.Balance))
			claims = append(claims, int32(st.FaucetClaims))
		}
		b.Queue(`INSERT INTO ledger_accounts (address, balance, faucet_claims)
			SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::integer[])
			ON CONFLICT (address) DO UPDATE SET balance = excluded.balance, faucet_claims = excluded.faucet_claims`,
			addrs, bals, claims)
	}
	if len(d.Channels) > 0 {
		n := len(d.Channels)
		ids, payers, payees, bodies := make([][]byte, 0, n), make([][]byte, 0, n), make([][]byte, 0, n), make([][]byte, 0, n)
		status, amounts, opened := make([]string, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		for i := range d.Channels {
			c := &d.Channels[i]
			body, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if uint64(c.Amount) > maxInt64 {
				return fmt.Errorf("pgstore: channel %s amount out of range", c.ID)
			}
			ids = append(ids, c.ID[:])
			payers = append(payers, c.PayerAddress[:])
			payees = append(payees, c.PayeeAddress[:])
			bodies = append(bodies, body)
			status = append(status, string(c.Status))
			amounts = append(amounts, int64(c.Amount))
			opened = append(opened, c.OpenedAt)
		}
		b.Queue(`INSERT INTO ledger_channels (id, payer_address, payee_address, status, amount, opened_at, body)
			SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::text[], $5::bigint[], $6::bigint[], $7::bytea[])
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body`,
			ids, payers, payees, status, amounts, opened, bodies)
	}
	if len(d.Receipts) > 0 {
		n := len(d.Receipts)
		accts, nonces, digests, bodies := make([][]byte, 0, n), make([]int64, 0, n), make([][]byte, 0, n), make([][]byte, 0, n)
		issued := make([]int64, 0, n)
		for i := range d.Receipts {
			r := &d.Receipts[i]
			accts = append(accts, r.Account[:])
			nonces = append(nonces, int64(r.Nonce)) // the bits of the uint64; read back the same way
			digests = append(digests, r.Digest[:])
			bodies = append(bodies, r.Body)
			issued = append(issued, int64(ledger.NonceTime(r.Nonce)))
		}
		// No ON CONFLICT: the primary key (account, nonce) is a last defence; a duplicate
		// means two writers applied the same request, and the whole commit fails.
		b.Queue(`INSERT INTO ledger_receipts (account, nonce, digest, body, issued)
			SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[])`,
			accts, nonces, digests, bodies, issued)
	}
	if d.ExpireReceipts > 0 {
		if d.ExpireReceipts > maxInt64 {
			return fmt.Errorf("pgstore: receipt cutoff %d out of range", d.ExpireReceipts)
		}
		b.Queue(`DELETE FROM ledger_receipts WHERE issued < $1`, int64(d.ExpireReceipts))
	}
	if err := queueBridge(b, d); err != nil {
		return err
	}
	res := s.pool.SendBatch(ctx, b)
	for range b.Len() {
		if _, err := res.Exec(); err != nil {
			res.Close()
			return commitErr(err)
		}
	}
	if err := res.Close(); err != nil {
		return commitErr(err)
	}
	return nil
}

func commitErr(err error) error {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == notWriterCode {
		return fmt.Errorf("%w: %s", ErrNotWriter, pe.Message)
	}
	return fmt.Errorf("pgstore: commit: %w", err)
}
