package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// writerLock is the session advisory lock key the writer holds ("bttwrite" in ASCII).
const writerLock = 0x6274747772697465

// Election timing. Polling at 200 ms makes a takeover start within a fifth of a second of
// PostgreSQL releasing the dead writer's lock (which it does as soon as the writer's TCP
// connection closes; for a writer whose host vanished, after the server's TCP keepalive
// gives up). The holder pings its lock connection every second so that it notices a lost
// session (and stops writing) quickly; the epoch fence makes the notice a matter of
// liveness only, never of safety.
const (
	ElectPoll = 200 * time.Millisecond
	LockPing  = time.Second
)

// Elect blocks until this process holds the writer lock or ctx ends. The lock lives on a
// dedicated connection; PostgreSQL releases it when that session ends. On success the
// writer epoch is incremented and remembered: from then on, commits of any earlier writer
// fail (ErrNotWriter), and this store's commits succeed only while the epoch stays its
// own. Lost is closed when the lock connection fails; the writer must then stop.
func (s *Store) Elect(ctx context.Context) error {
	conn, err := s.connectLock(ctx)
	if err != nil {
		return err
	}
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(writerLock)).Scan(&got); err != nil {
			conn.Close(context.Background())
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The server went away; reconnect and keep trying.
			if conn, err = s.connectLock(ctx); err != nil {
				return err
			}
			continue
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			conn.Close(context.Background())
			return ctx.Err()
		case <-time.After(ElectPoll):
		}
	}
	var epoch int64
	if err := conn.QueryRow(ctx, `UPDATE ledger_writer SET epoch = epoch + 1 RETURNING epoch`).Scan(&epoch); err != nil {
		conn.Close(context.Background())
		return fmt.Errorf("pgstore: take the writer epoch: %w", err)
	}
	s.epoch, s.lock = epoch, conn
	go s.watch()
	return nil
}

func (s *Store) connectLock(ctx context.Context) (*pgx.Conn, error) {
	for {
		conn, err := pgx.Connect(ctx, s.url)
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(ElectPoll):
		}
	}
}

// watch owns the lock connection after Elect: it pings the session, closes lost when the
// ping fails, and closes the connection (releasing the lock) when the store closes.
func (s *Store) watch() {
	defer close(s.lost)
	defer s.lock.Close(context.Background())
	for {
		select {
		case <-s.stop:
			return
		case <-time.After(LockPing):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.lock.Ping(ctx)
		cancel()
		if err != nil {
			return
		}
	}
}

// Epoch returns the writer epoch this store holds (0 before Elect).
func (s *Store) Epoch() int64 { return s.epoch }

// Lost is closed when the writer lock's session ends after Elect.
func (s *Store) Lost() <-chan struct{} { return s.lost }
