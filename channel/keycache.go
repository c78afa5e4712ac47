package channel

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/speedbt/btt/channel/internal/comb"
)

// KeyCache verifies signatures faster for keys that sign often: a ledger's active accounts,
// a provider's requesters. It keeps each key's point and address, verifies with the
// arithmetic of package channel/internal/comb (a four-limb field; u2*Q through the curve's
// endomorphism: about 95 us where PublicKey.Verify takes 190 on the reference machine), and
// once a key has produced TableAfter valid signatures, builds a table of its multiples
//
//	T[i][k-1] = k * 32^i * Q   (i = 0..52, k = 1..16, affine; 848 points, 53 KiB)
//
// which with the shared table of G (base 256) makes u1*G + u2*Q about 84 point additions and
// no doublings (about 35 us). Results are identical to PublicKey.Verify (the tests and a fuzz
// target compare them on valid, malleated and forged signatures). Safe for concurrent use.
type KeyCache struct {
	// TableAfter is how many valid signatures a key must have made before its table is built
	// while fewer than maxTables keys have one. Building costs what the table then saves on
	// about 12 verifications (1.0 ms against 95 - 35 us), so waiting for that many is the
	// rent-or-buy rule: whatever the number of signatures a key goes on to make, it costs at
	// most 1.7 times what the best choice in hindsight would have (waiting for 64 costs 2.2
	// times for a key that stops at 64, and half of a 64-key benchmark of 8,000 signatures
	// ran without tables).
	// When every table is taken, a key must have made StealAfter signatures to take one from
	// another key: with more busy keys than tables, tables would otherwise be rebuilt faster
	// than they pay off.
	TableAfter int64
	StealAfter int64

	mu      sync.Mutex
	max     int
	entries map[PublicKey]*cachedKey
	tables  int // entries holding a table, at most maxTables
	// maxTables bounds the memory in tables; keys beyond it keep the cheaper entry (point
	// and address, about 200 bytes).
	maxTables int

	gOnce  sync.Once
	gTable *comb.Table // of the generator, built at the first verification
}

type cachedKey struct {
	q        comb.Affine
	addr     Address
	uses     atomic.Int64
	building atomic.Bool
	table    atomic.Pointer[comb.Table]
}

// NewKeyCache returns a cache holding at most maxKeys keys, of which at most maxTables have
// a table (53 KiB each). When full, an arbitrary key, or an arbitrary key's table, is dropped.
func NewKeyCache(maxKeys, maxTables int) *KeyCache {
	return &KeyCache{TableAfter: 12, StealAfter: 64, max: max(1, maxKeys), maxTables: max(1, maxTables),
		entries: make(map[PublicKey]*cachedKey)}
}

// get returns p's cached entry, or a new one that is not cached: a key is admitted
// (admit) only once a valid signature from it verified, so that keys nobody holds the
// private half of (random points with garbage signatures) cannot evict active ones.
func (c *KeyCache) get(p PublicKey) (e *cachedKey, cached bool, err error) {
	c.mu.Lock()
	e = c.entries[p]
	c.mu.Unlock()
	if e != nil {
		return e, true, nil
	}
	k, err := btcec.ParsePubKey(p[:])
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrBadPublicKey, err)
	}
	u := k.SerializeUncompressed()
	return &cachedKey{q: affine(u), addr: addressFromUncompressed(u)}, false, nil
}

// admit caches e for p after a valid signature from p; when full, an arbitrary key goes.
func (c *KeyCache) admit(p PublicKey, e *cachedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[p] != nil {
		return // admitted meanwhile by another verification
	}
	if len(c.entries) >= c.max {
		for old, oe := range c.entries { // map order is random: an arbitrary victim
			if oe.table.Load() != nil {
				c.tables--
			}
			delete(c.entries, old)
			break
		}
	}
	c.entries[p] = e
}

// Address returns the key's address (ErrBadPublicKey for a point not on the curve). It
// does not admit the key.
func (c *KeyCache) Address(p PublicKey) (Address, error) {
	e, _, err := c.get(p)
	if err != nil {
		return Address{}, err
	}
	return e.addr, nil
}

// Verify is PublicKey.Verify, faster for keys seen often. A key enters the cache with its
// first valid signature.
func (c *KeyCache) Verify(p PublicKey, digest [32]byte, sig Signature) error {
	_, err := c.VerifyAddress(p, digest, sig)
	return err
}

// VerifyAddress is Verify that also returns the signer's address (from the same cache
// lookup).
func (c *KeyCache) VerifyAddress(p PublicKey, digest [32]byte, sig Signature) (Address, error) {
	e, cached, err := c.get(p)
	if err != nil {
		return Address{}, err
	}
	return e.addr, c.verify(p, e, cached, digest, sig)
}

func (c *KeyCache) verify(p PublicKey, e *cachedKey, cached bool, digest [32]byte, sig Signature) error {
	r, s, err := parseScalars(sig)
	if err != nil {
		return err
	}
	c.gOnce.Do(func() { c.gTable = comb.NewTable(comb.Generator(), comb.GeneratorWindow) })
	u1, u2 := scalars(digest, &r, &s)
	u1b, u2b, rb := u1.Bytes(), u2.Bytes(), r.Bytes()
	if t := e.table.Load(); t != nil {
		if !comb.Verify(c.gTable, t, &u1b, &u2b, &rb) {
			return ErrBadSignature
		}
		return nil
	}
	if !comb.VerifyVartime(c.gTable, &e.q, &u1b, &u2b, &rb) {
		return ErrBadSignature
	}
	if !cached {
		c.admit(p, e)
	}
	if n := e.uses.Add(1); n >= c.TableAfter && c.tableDue(n) && e.building.CompareAndSwap(false, true) {
		t := comb.NewTable(e.q, comb.KeyWindow)
		c.mu.Lock()
		if c.tables >= c.maxTables {
			c.dropTable(e)
		}
		if c.entries[p] == e { // still cached: it may have been dropped while the table was built
			e.table.Store(t)
			c.tables++
		}
		c.mu.Unlock()
	}
	return nil
}

// tableDue reports whether a key with n valid signatures gets a table now: at TableAfter
// while a table is free, at StealAfter when one must be taken from another key.
func (c *KeyCache) tableDue(n int64) bool {
	if n >= c.StealAfter {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tables < c.maxTables
}

// dropTable takes the table of an arbitrary cached key other than keep; the key starts
// counting its signatures again. c.mu is held.
func (c *KeyCache) dropTable(keep *cachedKey) {
	for _, e := range c.entries {
		if e != keep && e.table.Load() != nil {
			e.table.Store(nil)
			e.uses.Store(0)
			e.building.Store(false)
			c.tables--
			return
		}
	}
}

// affine converts a parsed key's uncompressed form (04 | x | y) for package comb.
func affine(u []byte) comb.Affine {
	a, ok := comb.NewAffine((*[32]byte)(u[1:33]), (*[32]byte)(u[33:65]))
	if !ok {
		panic("channel: a parsed public key is not on the curve") // ParsePubKey checked it
	}
	return a
}

// scalars returns u1 = e/s and u2 = r/s (mod n), e being the digest reduced mod n.
func scalars(digest [32]byte, r, s *btcec.ModNScalar) (u1, u2 *btcec.ModNScalar) {
	var e btcec.ModNScalar
	e.SetBytes(&digest)
	w := new(btcec.ModNScalar).InverseValNonConst(s)
	return new(btcec.ModNScalar).Mul2(&e, w), new(btcec.ModNScalar).Mul2(r, w)
}
