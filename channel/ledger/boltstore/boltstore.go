// Package boltstore is the ledger's embedded durable store, on go.etcd.io/bbolt: one file,
// one read-write transaction per committed batch, fsync on every commit.
package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
)

// ErrCorrupt is returned by Load when a stored record does not decode.
var ErrCorrupt = errors.New("boltstore: corrupt record")

// Store is a ledger.Store in a bbolt file.
type Store struct {
	db *bolt.DB
}

var _ ledger.Store = (*Store)(nil)

// Open opens or creates the database at path. Only one process may hold it: a second Open
// waits up to a few seconds for the file lock and then fails.
func Open(path string) (*Store, error) {
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
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketAccounts, bucketChannels, bucketReceipts, bucketTimed, bucketWithdrawals, bucketDeposits} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: init %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

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

// Commit writes d in one transaction and fsyncs before returning.
func (s *Store) Commit(ctx context.Context, d *ledger.Data) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if d.Meta != nil {
			v, err := json.Marshal(d.Meta)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketMeta).Put(keyMeta, v); err != nil {
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
			v, err := json.Marshal(&d.Channels[i])
			if err != nil {
				return err
			}
			if err := cb.Put(d.Channels[i].ID[:], v); err != nil {
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
	})
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
