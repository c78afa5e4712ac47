package bidext

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
)

// Proof-of-possession sizes.
const (
	// ChunkSize is the unit of the upload bitmap and of challenges (BEP 3 block size).
	ChunkSize = 16 << 10
	// SaltSize is the length of a challenge's fresh random salt.
	SaltSize = 16
	// ProofSize is the length of a source proof (SHA-256).
	ProofSize = sha256.Size
	// MaxChunks bounds the bitmap (16 MiB of bits, a 2 TiB torrent).
	MaxChunks = 1 << 27
	// MaxOutstanding bounds the challenges awaiting an answer per torrent; the oldest
	// is forgotten first.
	MaxOutstanding = 4096
	// redraws is how often the PRNG is asked before scanning for a clear bit, so a
	// nearly full bitmap costs bounded time.
	redraws = 64
)

// ProofTag opens the hashed input of every source proof: 16 bytes, distinct from every
// other Speed domain tag, so a proof is never a valid digest of anything else.
const ProofTag = "speedbt.proof.v1"

// Errors of Verify and NewPossession.
var (
	ErrUnknownChallenge  = errors.New("bidext: source proof answers no outstanding challenge (unknown or replayed salt)")
	ErrChallengeMismatch = errors.New("bidext: source proof names another chunk than its challenge")
	ErrChunkUploaded     = errors.New("bidext: challenged chunk was uploaded since the challenge")
	ErrBadProof          = errors.New("bidext: source proof does not match our copy of the chunk")
	ErrGeometry          = errors.New("bidext: bad torrent geometry")
)

// Challenge asks a peer to prove it holds one chunk: chunk Chunk (16 KiB units from the
// piece start) of piece Piece, hashed with Salt.
type Challenge struct {
	Piece, Chunk uint32
	Salt         [SaltSize]byte
}

// SourceProof is the answer to a challenge:
//
//	SHA-256(ProofTag (16) | salt (16) | info-hash padded with zeros to 32 | piece (4, BE) |
//	        chunk (4, BE) | the chunk's bytes)
//
// The salt is fresh per challenge and the chunk's bytes are hashed whole, so neither a
// published BEP 52 leaf hash nor an earlier proof helps to forge one. A v1 info-hash is
// 20 bytes, a v2 one 32; longer input is cut at 32.
func SourceProof(salt [SaltSize]byte, infoHash []byte, piece, chunk uint32, data []byte) [ProofSize]byte {
	var hdr [16 + SaltSize + 32 + 8]byte
	copy(hdr[:], ProofTag)
	copy(hdr[16:], salt[:])
	copy(hdr[16+SaltSize:16+SaltSize+32], infoHash)
	binary.BigEndian.PutUint32(hdr[16+SaltSize+32:], piece)
	binary.BigEndian.PutUint32(hdr[16+SaltSize+36:], chunk)
	h := sha256.New()
	h.Write(hdr[:])
	h.Write(data)
	var out [ProofSize]byte
	h.Sum(out[:0])
	return out
}

// Possession is a provider's per-torrent state for proofs of possession: the bitmap of
// chunks uploaded recently, the chunk currently challenged, and the challenges awaiting
// an answer. Not safe for concurrent use: the torrent loop owns it.
type Possession struct {
	infoHash [32]byte
	pieceLen uint64
	total    uint64
	perPiece uint64 // chunks in a full piece
	n        uint64 // chunks in the torrent

	bits []uint64
	set  uint64
	rng  *rand.Rand
	cur  uint64 // challenged chunk, as a torrent-wide index

	pending map[[SaltSize]byte]uint64 // salt -> chunk
	order   [][SaltSize]byte          // FIFO of pending salts, for eviction
}

// NewPossession sets up the state of one torrent. secret is the client's private 32-byte
// secret; the challenge sequence is drawn from a ChaCha8 PRNG seeded with secret XOR the
// info-hash (zero-padded), so peers cannot predict it and it differs per torrent.
func NewPossession(secret [32]byte, infoHash []byte, pieceLength, totalLength int64) (*Possession, error) {
	if len(infoHash) != 20 && len(infoHash) != 32 {
		return nil, fmt.Errorf("%w: info-hash of %d bytes", ErrGeometry, len(infoHash))
	}
	if pieceLength <= 0 || totalLength <= 0 {
		return nil, fmt.Errorf("%w: piece length %d, total length %d", ErrGeometry, pieceLength, totalLength)
	}
	pl, tl := uint64(pieceLength), uint64(totalLength)
	perPiece := (pl + ChunkSize - 1) / ChunkSize
	pieces := (tl + pl - 1) / pl
	if pieces > 1<<32 {
		return nil, fmt.Errorf("%w: %d pieces", ErrGeometry, pieces)
	}
	lastLen := tl - (pieces-1)*pl
	n := (pieces-1)*perPiece + (lastLen+ChunkSize-1)/ChunkSize
	if n > MaxChunks || perPiece > 1<<32 {
		return nil, fmt.Errorf("%w: %d chunks exceed %d", ErrGeometry, n, MaxChunks)
	}
	p := &Possession{pieceLen: pl, total: tl, perPiece: perPiece, n: n,
		bits: make([]uint64, (n+63)/64), pending: map[[SaltSize]byte]uint64{}}
	copy(p.infoHash[:], infoHash)
	seed := secret
	for i := range seed {
		seed[i] ^= p.infoHash[i]
	}
	p.rng = rand.New(rand.NewChaCha8(seed))
	p.cur = p.draw(p.n) // p.n is no chunk: nothing to avoid
	return p, nil
}

// Chunks returns the number of chunks in the torrent.
func (p *Possession) Chunks() uint64 { return p.n }

// Current returns the chunk challenged now.
func (p *Possession) Current() (piece, chunk uint32) { return p.split(p.cur) }

func (p *Possession) split(g uint64) (piece, chunk uint32) {
	return uint32(g / p.perPiece), uint32(g % p.perPiece)
}

// index returns the torrent-wide index of a chunk, or false if it does not exist.
func (p *Possession) index(piece, chunk uint32) (uint64, bool) {
	if uint64(chunk) >= p.perPiece {
		return 0, false
	}
	g := uint64(piece)*p.perPiece + uint64(chunk)
	return g, g < p.n
}

// chunkLen is the length of chunk g: 16 KiB, less at the end of a piece or the torrent.
func (p *Possession) chunkLen(g uint64) uint64 {
	piece, chunk := g/p.perPiece, g%p.perPiece
	start := piece*p.pieceLen + chunk*ChunkSize
	end := min(start+ChunkSize, (piece+1)*p.pieceLen, p.total)
	return end - start
}

func (p *Possession) isSet(g uint64) bool { return p.bits[g/64]&(1<<(g%64)) != 0 }

// Uploaded records that we sent length bytes of piece from offset begin to some peer. It
// marks every chunk the range touches; when all are marked they are cleared together.
// changed reports that the challenged chunk had to move (the loop then sends a new
// reserve-price with a new challenge on every Speed connection).
func (p *Possession) Uploaded(piece, begin, length uint32) (changed bool) {
	if length == 0 {
		return false
	}
	first := uint64(begin) / ChunkSize
	last := (uint64(begin) + uint64(length) - 1) / ChunkSize
	for c := first; c <= last && c < p.perPiece; c++ {
		g, ok := p.index(piece, uint32(c))
		if !ok {
			break
		}
		if g == p.cur {
			changed = true
		}
		if !p.isSet(g) {
			p.bits[g/64] |= 1 << (g % 64)
			p.set++
		}
		if p.set == p.n {
			clear(p.bits)
			p.set = 0
		}
	}
	if changed {
		p.cur = p.draw(p.cur)
	}
	return changed
}

// draw picks the next challenged chunk: PRNG draws until one is not marked and is not
// avoid (the chunk just uploaded), then, after a bounded number of tries, the first such
// chunk after the last draw, found a word of the bitmap at a time.
func (p *Possession) draw(avoid uint64) uint64 {
	if p.n == 1 {
		return 0
	}
	var g uint64
	for range redraws {
		g = p.rng.Uint64N(p.n)
		if g != avoid && !p.isSet(g) {
			return g
		}
	}
	words := uint64(len(p.bits))
	w := g / 64
	mask := ^uint64(0) << (g % 64) // the first word: only bits from g on
	for range words + 1 {
		free := ^p.bits[w] & mask
		for free != 0 {
			c := w*64 + uint64(bits.TrailingZeros64(free))
			if c >= p.n {
				break // padding bits past the last chunk
			}
			if c != avoid {
				return c
			}
			free &= free - 1
		}
		mask = ^uint64(0)
		if w++; w == words {
			w = 0
		}
	}
	return g // unreachable: avoid is marked (or no chunk) and marks clear when all are set
}

// Challenge makes a fresh challenge for the current chunk with a salt read from random
// (crypto/rand.Reader in production) and remembers it until it is answered or evicted.
func (p *Possession) Challenge(random io.Reader) (Challenge, error) {
	var c Challenge
	if _, err := io.ReadFull(random, c.Salt[:]); err != nil {
		return Challenge{}, fmt.Errorf("bidext: challenge salt: %w", err)
	}
	if _, dup := p.pending[c.Salt]; dup {
		return Challenge{}, errors.New("bidext: challenge salt repeated: broken random source")
	}
	if len(p.pending) >= MaxOutstanding {
		for len(p.order) > 0 && len(p.pending) >= MaxOutstanding {
			delete(p.pending, p.order[0])
			p.order = p.order[1:]
		}
	}
	p.pending[c.Salt] = p.cur
	p.order = append(p.order, c.Salt)
	c.Piece, c.Chunk = p.split(p.cur)
	return c, nil
}

// Verify checks a source proof for the challenge salt. The salt is consumed whatever the
// outcome, so each challenge admits one attempt. read returns our copy of the named chunk
// (the loop reads it from storage); it is called only for a proof that answers an
// outstanding challenge on a chunk not uploaded since. A nil error means another peer
// holds the torrent: the caller resets its reserve price to 0.
func (p *Possession) Verify(salt [SaltSize]byte, piece, chunk uint32, proof [ProofSize]byte,
	read func(piece, chunk uint32) ([]byte, error)) error {
	g, ok := p.pending[salt]
	if !ok {
		return ErrUnknownChallenge
	}
	delete(p.pending, salt)
	if len(p.order) > 2*MaxOutstanding {
		p.compact()
	}
	if want, ok := p.index(piece, chunk); !ok || want != g {
		return fmt.Errorf("%w: proof for piece %d chunk %d", ErrChallengeMismatch, piece, chunk)
	}
	if p.isSet(g) {
		return fmt.Errorf("%w: piece %d chunk %d", ErrChunkUploaded, piece, chunk)
	}
	data, err := read(piece, chunk)
	if err != nil {
		return fmt.Errorf("bidext: reading challenged chunk: %w", err)
	}
	if uint64(len(data)) != p.chunkLen(g) {
		return fmt.Errorf("bidext: our chunk %d/%d is %d bytes, want %d", piece, chunk, len(data), p.chunkLen(g))
	}
	want := SourceProof(salt, p.infoHash[:], piece, chunk, data)
	if subtle.ConstantTimeCompare(want[:], proof[:]) != 1 {
		return ErrBadProof
	}
	return nil
}

// compact drops answered salts from the eviction queue, keeping it bounded.
func (p *Possession) compact() {
	kept := p.order[:0]
	for _, s := range p.order {
		if _, ok := p.pending[s]; ok {
			kept = append(kept, s)
		}
	}
	p.order = kept
}
