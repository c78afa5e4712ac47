// Package boltstore is the ledger's embedded durable store, on go.etcd.io/bbolt: a committed
// batch is one record appended to a write-ahead log and flushed, and bbolt receives the
// logged batches in the background, a few per transaction.
package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

var (
	bucketMeta     = []byte("meta")
	bucketAccounts = []byte("accounts")
	bucketChannels = []byte("channels")
	bucketReceipts = []byte("receipts")   // written before the idempotency window; read only
	bucketTimed    = []byte("receipts_t") // receipts keyed by their nonce's time
	keyMeta        = []byte("meta")
	keyLogged      = []byte("logged") // the LSN of the last logged batch bbolt holds (8, big-endian)
)

// ErrCorrupt is returned by Load when a stored record does not decode.
var ErrCorrupt = errors.New("boltstore: corrupt record")

// Store is a ledger.Store in a bbolt file with a write-ahead log beside it (wal.go): Commit
// appends the batch to the log and returns once it is on disk; a background checkpointer
// (checkpoint.go) moves logged batches into bbolt a few at a time.
//
// Commit is called by one goroutine at a time (the ledger's writer); Channel and Load may be
// called from any.
type Store struct {
	db   *bolt.DB
	dir  string // the log's
	log  *wal   // Commit's
	stop chan struct{}
	done chan struct{}
	wake chan struct{} // a checkpoint is due early; capacity 1
	tune tuning

	ckptMu sync.Mutex // one checkpoint at a time (the checkpointer's, Load's, Close's)

	spareMu sync.Mutex // held while the spare segment (spare.go) is renamed, either way
	spare   bool       // a whole spare is in place

	mu       sync.Mutex
	cond     *sync.Cond // on mu: a checkpoint ended
	pending  []logged   // logged and not yet in bbolt, in LSN order
	bytes    int        // of pending's records
	channels map[channel.ChannelID]pendingChannel
	segs     []uint64 // the log's segments on disk, oldest first
	segBytes int64    // written to the newest segment
	failed   error    // a checkpoint failed: Commit fails from then on
}

// pendingChannel is a channel's newest state in the log while bbolt has an older one.
type pendingChannel struct {
	lsn uint64
	ch  ledger.Channel
}

var _ ledger.Store = (*Store)(nil)

// Open opens or creates the database at path, with its log in the directory path+"-wal".
// Logged batches that bbolt lacks (a crash came before their checkpoint) are moved into it
// before Open returns. Only one process may hold the store: a second Open waits up to a few
// seconds for the file lock and then fails.
func Open(path string) (*Store, error) {
	return open(path, tuning{every: checkpointEvery, early: checkpointBytes, max: maxPendingBytes})
}

// tuning is when checkpoints run: every so often, or once early bytes are pending; Commit
// waits while max bytes are.
type tuning struct {
	every      time.Duration
	early, max int
}

func open(path string, tune tuning) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 5 * time.Second,
		// The freelist is rebuilt from the pages on open instead of being written on every
		// commit: fewer pages per fsync, same durability (bbolt documents it as safe).
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	var last uint64 // the last logged batch bbolt holds
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketAccounts, bucketChannels, bucketReceipts, bucketTimed, bucketWithdrawals, bucketDeposits} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if v := tx.Bucket(bucketMeta).Get(keyLogged); len(v) == 8 {
			last = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: init %s: %w", path, err)
	}
	s := &Store{db: db, stop: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1),
		tune: tune, channels: map[channel.ChannelID]pendingChannel{}}
	s.cond = sync.NewCond(&s.mu)
	dir := path + "-wal"
	s.dir = dir
	recs, next, segs, err := readLog(dir, last+1)
	if err == nil {
		s.pending, s.segs = recs, segs
		err = s.checkpoint()
	}
	if err == nil {
		s.log, err = newLog(dir, next)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: log %s: %w", dir, err)
	}
	s.mu.Lock()
	if n := len(s.segs); n > 0 && s.segs[n-1] == next {
		s.segs = s.segs[:n-1] // newLog replaced it
	}
	s.segs = append(s.segs, next)
	del := s.dropSegments(next - 1)
	s.mu.Unlock()
	s.removeSegments(del)
	go s.checkpointLoop()
	return s, nil
}

// Close stops the checkpointer, moves what is logged into bbolt, and closes both.
func (s *Store) Close() error {
	close(s.stop)
	<-s.done
	err := s.checkpoint()
	if cerr := s.log.close(); err == nil {
		err = cerr
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Account record: balance (8) | faucet claims (4), big-endian.
const accountSize = 12

// Receipt record: address (21) | nonce (8) | request digest (32) | response body, in bucket
// receipts_t keyed by the nonce's time (8) | sequence (8), both big-endian: commits append
// near the right edge of the tree (random keys dirtied a page per receipt), and the
// idempotency window expires receipts from the left edge, in order.
// Earlier databases keyed receipts in bucket receipts by an 8-byte sequence (same value), and
// before that by address (21) | nonce (8) with the value digest | body; Load reads all three,
// and receipts there, a set that no longer grows, are never deleted.
const (
	receiptHeadSize   = channel.AddressSize + 8 + 32
	legacyReceiptKeyN = channel.AddressSize + 8
)

// Load reads the whole ledger.
func (s *Store) Load(ctx context.Context) (*ledger.Data, error) {
	if err := s.checkpoint(); err != nil {
		return nil, err
	}
	d := &ledger.Data{Accounts: map[channel.Address]ledger.AccountState{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyMeta); v != nil {
			var m ledger.Meta
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("%w: meta: %v", ErrCorrupt, err)
			}
			d.Meta = &m
		}
		err := tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			if len(k) != channel.AddressSize || len(v) != accountSize {
				return fmt.Errorf("%w: account %x", ErrCorrupt, k)
			}
			d.Accounts[channel.Address(k)] = ledger.AccountState{
				Balance: binary.BigEndian.Uint64(v), FaucetClaims: binary.BigEndian.Uint32(v[8:])}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketChannels).ForEach(func(k, v []byte) error {
			var c ledger.Channel
			if err := json.Unmarshal(v, &c); err != nil || string(c.ID[:]) != string(k) {
				return fmt.Errorf("%w: channel %x: %v", ErrCorrupt, k, err)
			}
			d.Channels = append(d.Channels, c)
			return nil
		})
		if err != nil {
			return err
		}
		if err := loadBridge(tx, d); err != nil {
			return err
		}
		load := func(k, v []byte) error {
			var r ledger.Receipt
			switch {
			case (len(k) == 8 || len(k) == 16) && len(v) >= receiptHeadSize:
				r.Account = channel.Address(v[:channel.AddressSize])
				r.Nonce = binary.BigEndian.Uint64(v[channel.AddressSize:])
				v = v[channel.AddressSize+8:]
			case len(k) == legacyReceiptKeyN && len(v) >= 32:
				r.Account = channel.Address(k[:channel.AddressSize])
				r.Nonce = binary.BigEndian.Uint64(k[channel.AddressSize:])
			default:
				return fmt.Errorf("%w: receipt %x", ErrCorrupt, k)
			}
			copy(r.Digest[:], v)
			r.Body = append([]byte(nil), v[32:]...)
			d.Receipts = append(d.Receipts, r)
			return ctx.Err()
		}
		if err := tx.Bucket(bucketReceipts).ForEach(load); err != nil {
			return err
		}
		return tx.Bucket(bucketTimed).ForEach(load)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Commit appends d to the log and returns once it is on disk; bbolt receives it at the next
// checkpoint. After a failed Commit or checkpoint the store must be closed and reopened.
func (s *Store) Commit(ctx context.Context, d *ledger.Data) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rec, err := appendRecord(make([]byte, recHeaderSize, recHeaderSize+512*len(d.Receipts)+64*len(d.Accounts)+256), d)
	if err != nil {
		return fmt.Errorf("boltstore: encode: %w", err)
	}
	s.mu.Lock()
	for s.bytes >= s.tune.max && s.failed == nil {
		s.due()
		s.cond.Wait()
	}
	err = s.failed
	s.mu.Unlock()
	if err != nil {
		return err
	}
	lsn, err := s.log.append(rec)
	if err != nil {
		return err
	}
	if s.log.size >= segmentSize {
		s.spareMu.Lock()
		err := s.log.rotate(s.spare)
		s.spare = false
		s.spareMu.Unlock()
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.segs = append(s.segs, s.log.next)
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.segBytes = s.log.size
	s.pending = append(s.pending, logged{lsn: lsn, payload: rec[recHeaderSize:]})
	s.bytes += len(rec)
	for i := range d.Channels {
		s.channels[d.Channels[i].ID] = pendingChannel{lsn: lsn, ch: d.Channels[i]}
	}
	if s.bytes >= s.tune.early {
		s.due()
	}
	s.mu.Unlock()
	return nil
}

// putJSON stores v's JSON under k: meta, channels and the bridge's records are stored so.
func putJSON(b *bolt.Bucket, k []byte, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, j)
}

// apply writes one batch's changes into tx.
func apply(tx *bolt.Tx, d *ledger.Data) error {
	if d.Meta != nil {
		if err := putJSON(tx.Bucket(bucketMeta), keyMeta, d.Meta); err != nil {
			return err
		}
	}
	ab := tx.Bucket(bucketAccounts)
	for a, st := range d.Accounts {
		var v [accountSize]byte
		binary.BigEndian.PutUint64(v[:], st.Balance)
		binary.BigEndian.PutUint32(v[8:], st.FaucetClaims)
		if err := ab.Put(a[:], v[:]); err != nil {
			return err
		}
	}
	cb := tx.Bucket(bucketChannels)
	for i := range d.Channels {
		if err := putJSON(cb, d.Channels[i].ID[:], &d.Channels[i]); err != nil {
			return err
		}
	}
	if err := commitBridge(tx, d); err != nil {
		return err
	}
	rb := tx.Bucket(bucketTimed)
	// Nearly append-only (nonce times arrive almost in order): nearly full pages.
	rb.FillPercent = 0.95
	for _, r := range d.Receipts {
		seq, err := rb.NextSequence()
		if err != nil {
			return err
		}
		var k [16]byte
		binary.BigEndian.PutUint64(k[:], ledger.NonceTime(r.Nonce))
		binary.BigEndian.PutUint64(k[8:], seq)
		v := make([]byte, 0, receiptHeadSize+len(r.Body))
		v = append(v, r.Account[:]...)
		v = binary.BigEndian.AppendUint64(v, r.Nonce)
		v = append(append(v, r.Digest[:]...), r.Body...)
		if err := rb.Put(k[:], v); err != nil {
			return err
		}
	}
	if d.ExpireReceipts > 0 {
		return expireReceipts(rb, d.ExpireReceipts)
	}
	return nil
}

// maxExpiredPerCommit bounds the deletions one commit carries; the ledger asks again at
// every sweep (each second), so a backlog drains at 100,000 receipts per second.
const maxExpiredPerCommit = 100_000

// expireReceipts deletes, from the left edge of receipts_t (ordered by nonce time), those
// whose nonce was issued before cutoff.
func expireReceipts(rb *bolt.Bucket, cutoff uint64) error {
	var del [][]byte
	c := rb.Cursor()
	for k, _ := c.First(); k != nil && len(del) < maxExpiredPerCommit; k, _ = c.Next() {
		if len(k) != 16 || binary.BigEndian.Uint64(k) >= cutoff {
			break
		}
		del = append(del, slices.Clone(k)) // k points into the page, which Delete changes
	}
	for _, k := range del {
		if err := rb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Channel reads one channel (the archive of channels that left the ledger's memory).
func (s *Store) Channel(_ context.Context, id channel.ChannelID) (ledger.Channel, bool, error) {
	s.mu.Lock()
	pc, ok := s.channels[id]
	s.mu.Unlock()
	if ok {
		return pc.ch, true, nil
	}
	var c ledger.Channel
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketChannels).Get(id[:])
		if v == nil {
			return nil
		}
		found = true
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("%w: channel %x: %v", ErrCorrupt, id, err)
		}
		return nil
	})
	return c, found, err
}
