package ledger

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/channel"
)

// Config configures a Ledger.
type Config struct {
	Core CoreConfig
	// Treasury receives the genesis supply when the store is empty; ignored otherwise.
	Treasury channel.Address
	// MaxBatch bounds the operations committed together. Larger batches amortise the
	// fsync; the bound keeps one batch's latency and memory small.
	MaxBatch int
	// QueueLen is how many submitted operations may wait for the writer.
	QueueLen int
	// SweepInterval is how often expired channels are refunded.
	SweepInterval time.Duration
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
}

// DefaultConfig returns defaults for everything but the treasury.
func DefaultConfig() Config {
	return Config{Core: DefaultCoreConfig, MaxBatch: 4096, QueueLen: 8192, SweepInterval: time.Second}
}

type request struct {
	op   Op
	body []byte
	err  error
	done chan struct{}
}

// Stats are the writer's counters.
type Stats struct {
	Ops          uint64        // operations applied (reads included)
	Batches      uint64        // batches taken from the queue
	Commits      uint64        // store commits (batches with changes)
	CommitTime   time.Duration // total time spent in Store.Commit
	MaxBatchSeen int           // largest batch so far
}

type stats struct {
	ops, batches, commits, commitNanos atomic.Uint64
	maxBatch                           atomic.Int64
}

// Stats returns the writer's counters. Ops/Commits is the group-commit factor: how many
// operations shared one fsync.
func (l *Ledger) Stats() Stats {
	return Stats{Ops: l.stats.ops.Load(), Batches: l.stats.batches.Load(), Commits: l.stats.commits.Load(),
		CommitTime: time.Duration(l.stats.commitNanos.Load()), MaxBatchSeen: int(l.stats.maxBatch.Load())}
}

// Ledger serialises operations through one writer goroutine that owns the Core, committing
// each batch to the Store before answering any operation in it.
type Ledger struct {
	cfg   Config
	core  *Core
	store Store
	reqs  chan *request
	view  *view // committed state for readers; the writer applies each commit to it

	stats stats

	dead     chan struct{} // closed when Run returns
	deadOnce sync.Once
	err      error // why Run returned; read after dead is closed
}

// Open loads the ledger from store, creating the genesis state when the store is empty.
// Call Run to start serving.
func Open(ctx context.Context, store Store, cfg Config) (*Ledger, error) {
	if cfg.MaxBatch <= 0 || cfg.QueueLen <= 0 || cfg.SweepInterval <= 0 {
		return nil, errors.New("ledger: MaxBatch, QueueLen and SweepInterval must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d, err := store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: load: %w", err)
	}
	trimLoaded(d, cfg.Core, cfg.Now())
	if d.Meta == nil {
		if cfg.Treasury.IsZero() {
			return nil, errors.New("ledger: empty store and no treasury address for the genesis")
		}
		var id channel.LedgerID
		if _, err := rand.Read(id[:]); err != nil {
			return nil, err
		}
		d = Genesis(id, cfg.Treasury)
		if err := store.Commit(ctx, d); err != nil {
			return nil, fmt.Errorf("ledger: genesis: %w", err)
		}
	}
	core, err := NewCore(cfg.Core, d)
	if err != nil {
		return nil, err
	}
	return &Ledger{cfg: cfg, core: core, store: store, reqs: make(chan *request, cfg.QueueLen),
		view: newView(d, store), dead: make(chan struct{})}, nil
}

// Reader returns the committed state for reads: it never waits for the writer's queue, and
// it shows a batch's changes only once the store has committed them.
func (l *Ledger) Reader() Reader { return l.view }

// Dead is closed when Run has returned (the writer stopped).
func (l *Ledger) Dead() <-chan struct{} { return l.dead }

// ID returns the ledger id that signed requests must carry.
func (l *Ledger) ID() channel.LedgerID { return l.core.ID() }

// Config returns the configuration.
func (l *Ledger) Config() Config { return l.cfg }

// Do queues op and waits for its result: the JSON response body, or an error (a *Error for
// anything the caller did wrong). When Do returns a body for a mutating op, the change is
// durable. If ctx ends first the op may still be applied; resending the same signed request
// is safe.
func (l *Ledger) Do(ctx context.Context, op Op) ([]byte, error) {
	r := &request{op: op, done: make(chan struct{})}
	if err := l.enqueue(ctx, r); err != nil {
		return nil, err
	}
	return l.wait(ctx, r)
}

func (l *Ledger) enqueue(ctx context.Context, r *request) error {
	select {
	case l.reqs <- r:
		return nil
	case <-l.dead:
		return l.deadErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Ledger) wait(ctx context.Context, r *request) ([]byte, error) {
	select {
	case <-r.done:
		return r.body, r.err
	case <-l.dead:
		// Run may have answered r just before returning.
		select {
		case <-r.done:
			return r.body, r.err
		default:
		}
		return nil, l.deadErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Ledger) deadErr() error {
	return errorf(ErrUnavailable, "ledger stopped: %v", l.err)
}

// Run is the writer: it applies queued operations in batches and commits each batch in one
// Store transaction (group commit), and sweeps expired channels. It returns when ctx ends
// or when a commit fails: the in-memory state is then ahead of the store, so the only safe
// continuation is a restart from the store.
func (l *Ledger) Run(ctx context.Context) error {
	err := l.run(ctx)
	l.err = err
	l.deadOnce.Do(func() { close(l.dead) })
	return err
}

func (l *Ledger) run(ctx context.Context) error {
	tick := time.NewTicker(l.cfg.SweepInterval)
	defer tick.Stop()
	batch := make([]*request, 0, l.cfg.MaxBatch)
	for {
		batch = batch[:0]
		sweep := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-l.reqs:
			batch = append(batch, r)
		case <-tick.C:
			sweep = true
		}
	drain:
		for len(batch) < l.cfg.MaxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		now := l.cfg.Now()
		if sweep {
			if _, err := l.core.Apply(now, Sweep{}); err != nil {
				return fmt.Errorf("ledger: sweep: %w", err)
			}
		}
		for _, r := range batch {
			if !r.op.readOnly() {
				r.body, r.err = l.core.Apply(now, r.op)
			}
		}
		l.stats.batches.Add(1)
		l.stats.ops.Add(uint64(len(batch)))
		if int64(len(batch)) > l.stats.maxBatch.Load() {
			l.stats.maxBatch.Store(int64(len(batch)))
		}
		if ch := l.core.TakeChanges(); !ch.Empty() {
			t0 := time.Now()
			err := l.store.Commit(ctx, ch)
			l.stats.commits.Add(1)
			l.stats.commitNanos.Add(uint64(time.Since(t0)))
			if err != nil {
				for _, r := range batch {
					r.body, r.err = nil, errorf(ErrUnavailable, "commit failed")
					close(r.done)
				}
				return fmt.Errorf("ledger: commit: %w", err)
			}
			l.view.apply(ch)
		}
		// Reads run after the commit, so they never see state that could still be lost.
		for _, r := range batch {
			if r.op.readOnly() {
				r.body, r.err = l.core.Apply(now, r.op)
			}
			close(r.done)
		}
	}
}
