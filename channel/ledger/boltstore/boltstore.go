// Package boltstore is the ledger's embedded durable store, on go.etcd.io/bbolt: one file,
// one read-write transaction per committed batch, fsync on every commit.
package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

var (
	bucketMeta     = []byte("meta")
	bucketAccounts = []byte("accounts")
	bucketChannels = []byte("channels")
	bucketReceipts = []byte("receipts")
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
		for _, b := range [][]byte{bucketMeta, bucketAccounts, bucketChannels, bucketReceipts, bucketWithdrawals, bucketDeposits} {
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

// Receipt record, keyed by an 8-byte big-endian sequence number so that every commit
// appends at the right edge of the tree (random keys dirtied a page per receipt):
// address (21) | nonce (8) | request digest (32) | response body.
// Databases written before that keyed receipts by address (21) | nonce (8), with the value
// digest | body; Load reads both.
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
		return tx.Bucket(bucketReceipts).ForEach(func(k, v []byte) error {
			var r ledger.Receipt
			switch {
			case len(k) == 8 && len(v) >= receiptHeadSize:
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
		})
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
		rb := tx.Bucket(bucketReceipts)
		rb.FillPercent = 1 // append-only: full pages, no room kept for inserts that never come
		for _, r := range d.Receipts {
			seq, err := rb.NextSequence()
			if err != nil {
				return err
			}
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], seq)
			v := make([]byte, 0, receiptHeadSize+len(r.Body))
			v = append(v, r.Account[:]...)
			v = binary.BigEndian.AppendUint64(v, r.Nonce)
			v = append(append(v, r.Digest[:]...), r.Body...)
			if err := rb.Put(k[:], v); err != nil {
				return err
			}
		}
		return nil
	})
}
