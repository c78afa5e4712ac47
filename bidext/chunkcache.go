package bidext

import (
	"errors"
	"time"
)

// ErrChunkBusy is ChunkCache.Read's answer when the chunk is not cached and the budget
// of disk reads is spent: the challenge goes unanswered (the challenger asks again with
// its next reserve price).
var ErrChunkBusy = errors.New("bidext: too many challenged chunks to read; try later")

// Bounds of a ChunkCache.
const (
	// chunkCacheSize is how many chunks are kept (16 KiB each, 128 KiB per torrent).
	// Challenges name the provider's current chunk, which changes only as it uploads, so
	// honest challengers hit the few most recent ones.
	chunkCacheSize = 8
	// chunkReadRate and chunkReadBurst bound the chunks read from storage per second per
	// torrent: a peer that names a new chunk in every reserve-price message costs at most
	// this many 16 KiB reads a second on the torrent's loop.
	chunkReadRate  = 4
	chunkReadBurst = 16
)

// ChunkCache serves the chunks that possession challenges and proofs need (our copy of
// a challenged chunk, to answer a challenge or to check a proof) from a small cache, and
// reads a missing one from storage only within a budget, so that a flood of challenges
// cannot turn into a flood of disk reads. The torrent loop owns it: it is not safe for
// concurrent use. The slice Read returns is valid until the next Read.
type ChunkCache struct {
	read    func(piece, chunk uint32, buf []byte) ([]byte, error)
	now     func() time.Time
	entries [chunkCacheSize]cachedChunk
	next    int // the entry the next miss replaces (round robin)
	tokens  float64
	last    time.Time
}

type cachedChunk struct {
	valid        bool
	piece, chunk uint32
	data         []byte
}

// NewChunkCache returns a cache over read, which fills buf (of capacity ChunkSize) with
// chunk chunk of piece piece and returns the filled part; now is the clock.
func NewChunkCache(read func(piece, chunk uint32, buf []byte) ([]byte, error), now func() time.Time) *ChunkCache {
	return &ChunkCache{read: read, now: now, tokens: chunkReadBurst, last: now()}
}

// Read returns chunk chunk of piece piece, from the cache or, within the read budget,
// from storage (ErrChunkBusy beyond it).
func (c *ChunkCache) Read(piece, chunk uint32) ([]byte, error) {
	for i := range c.entries {
		if e := &c.entries[i]; e.valid && e.piece == piece && e.chunk == chunk {
			return e.data, nil
		}
	}
	now := c.now()
	c.tokens = min(chunkReadBurst, c.tokens+now.Sub(c.last).Seconds()*chunkReadRate)
	c.last = now
	if c.tokens < 1 {
		return nil, ErrChunkBusy
	}
	c.tokens--
	e := &c.entries[c.next]
	if e.data == nil {
		e.data = make([]byte, ChunkSize)
	}
	data, err := c.read(piece, chunk, e.data[:ChunkSize])
	if err != nil {
		e.valid = false
		return nil, err
	}
	e.valid, e.piece, e.chunk, e.data = true, piece, chunk, data
	c.next = (c.next + 1) % chunkCacheSize
	return data, nil
}
