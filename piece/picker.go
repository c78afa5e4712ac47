package piece

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// PeerKey names a peer to the Picker. The session chooses the keys (a connection
// counter is enough); the Picker only compares them.
type PeerKey uint32

// Errors from Picker methods that take input from the network.
var (
	// ErrBadBlock means a block is not one of the torrent's 16 KiB grid blocks.
	ErrBadBlock = errors.New("piece: block not on the block grid")
	// ErrNotWanted means the block arrived for a piece we have, a piece we are not
	// downloading, or a block already received (a late endgame duplicate). Drop its data.
	ErrNotWanted = errors.New("piece: block not wanted")
	// ErrUnknownPeer means the peer was never added or was removed.
	ErrUnknownPeer = errors.New("piece: unknown peer")
)

// Config tunes a Picker. The zero value gives the defaults.
type Config struct {
	// RandomFirst: while fewer than this many pieces are complete, new pieces are picked
	// at random instead of rarest first. A fresh peer gets a whole piece it can upload
	// (and so be unchoked for) sooner when it does not wait on the rarest, often slowest,
	// pieces. Default 4, as in libtorrent's initial_picker_threshold; negative turns it off.
	RandomFirst int
	// Seed seeds the tie-break and random-first choices; 0 picks a random seed. Tests
	// set it for reproducible runs.
	Seed uint64
	// MaxSuggest bounds the suggest hints kept per peer (BEP 6). Default 16.
	MaxSuggest int
	// EndgameRequesters caps how many peers one block is requested from in endgame. Each
	// duplicate costs a block of bandwidth when it is not cancelled in time; 3 covers one
	// stalled and one slow peer. Default 3.
	EndgameRequesters int
}

const (
	blockFree uint8 = iota
	blockRequested
	blockReceived
)

type blockInfo struct {
	state uint8
	owner PeerKey   // the peer it is requested from (blockRequested)
	from  PeerKey   // the peer that delivered it (blockReceived), for blame
	extra []PeerKey // further requesters in endgame
}

// active is a piece being downloaded: at least one block was requested.
type active struct {
	index    uint32
	blocks   []blockInfo
	free     int // blocks not requested from anyone
	received int
}

type peerState struct {
	has         Bitfield
	seed        bool // has every piece; counted in Picker.seeds, not in has/avail
	outstanding []Block
	allowedFast []uint32
	suggest     []uint32
}

// Picker chooses blocks to request: partial pieces first, then rarest first (with a
// random first few pieces), one requester per block until endgame. It is not safe for
// concurrent use: one torrent loop owns it.
//
// Rarest first keeps the pieces we lack in one array sorted by availability, split into
// buckets by availability count; a have or a leaving peer moves a piece one bucket with a
// single swap (the layout libtorrent's piece_picker uses), so Pick walks pieces in rarity
// order without sorting. The initial order is a random permutation, which gives the
// random tie-break inside a bucket. Done pieces (had, or not wanted) sit after every bucket
// and are never walked.
type Picker struct {
	layout Layout
	cfg    Config
	rng    *rand.Rand

	have   Bitfield
	done   Bitfield // have or not wanted: the pieces kept out of the rarity buckets
	skip   Bitfield // not wanted (SetWanted false)
	avail  []int32  // per piece: peers that announced it, not counting seeds
	order  []int32  // pieces, sorted by avail; done pieces at the end
	pos    []int32  // pos[order[i]] == i
	bstart []int32  // bucket k = order[bstart[k]:bstart[k+1]]; last entry = start of the done region
	seeds  int

	act        []int32 // per piece: index into actives, or -1
	actives    []*active
	spare      []*active // recycled active pieces, so steady-state picking does not allocate
	unstarted  int       // pieces neither had nor active
	freeBlocks int       // blocks of active pieces requested from nobody

	peers map[PeerKey]*peerState
}

// NewPicker returns a Picker for a torrent of the given layout with nothing downloaded.
func NewPicker(layout Layout, cfg Config) (*Picker, error) {
	if err := layout.Check(); err != nil {
		return nil, err
	}
	if cfg.RandomFirst == 0 {
		cfg.RandomFirst = 4
	}
	if cfg.MaxSuggest <= 0 {
		cfg.MaxSuggest = 16
	}
	if cfg.EndgameRequesters <= 1 {
		cfg.EndgameRequesters = 3
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	n := layout.NumPieces
	p := &Picker{
		layout:    layout,
		cfg:       cfg,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		have:      New(n),
		done:      New(n),
		skip:      New(n),
		avail:     make([]int32, n),
		order:     make([]int32, n),
		pos:       make([]int32, n),
		bstart:    []int32{0, int32(n)},
		act:       make([]int32, n),
		unstarted: n,
		peers:     make(map[PeerKey]*peerState),
	}
	for i := range p.order {
		p.order[i] = int32(i)
		p.act[i] = -1
	}
	p.rng.Shuffle(n, func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
	for i, pc := range p.order {
		p.pos[pc] = int32(i)
	}
	return p, nil
}

// Layout returns the torrent layout the picker was made for.
func (p *Picker) Layout() Layout { return p.layout }

// Have returns our bitfield. The caller must not modify it.
func (p *Picker) Have() *Bitfield { return &p.have }

// Complete reports whether every piece is verified.
func (p *Picker) Complete() bool { return p.done.All() }

// Endgame reports whether every missing block is requested from some peer, the point
// from which Pick hands out duplicate requests.
//
// Pieces that no connected peer has count as unrequested, so a swarm missing a piece
// never enters endgame; duplicates would not help it either.
func (p *Picker) Endgame() bool { return p.unstarted == 0 && p.freeBlocks == 0 && !p.done.All() }

// Availability is the number of connected peers that have piece i.
func (p *Picker) Availability(i int) int {
	if i < 0 || i >= len(p.avail) {
		return 0
	}
	return int(p.avail[i]) + p.seeds
}

func (p *Picker) swap(i, j int32) {
	a, b := p.order[i], p.order[j]
	p.order[i], p.order[j] = b, a
	p.pos[b], p.pos[a] = i, j
}

// inc raises piece i's availability, moving it to the next bucket unless it is done.
func (p *Picker) inc(i int) {
	a := p.avail[i]
	p.avail[i]++
	if p.done.Has(i) {
		return
	}
	for int(a)+2 >= len(p.bstart) {
		p.bstart = append(p.bstart, p.bstart[len(p.bstart)-1])
	}
	j := p.bstart[a+1] - 1
	p.swap(p.pos[i], j)
	p.bstart[a+1]--
}

// dec lowers piece i's availability, moving it to the previous bucket unless it is done.
func (p *Picker) dec(i int) {
	a := p.avail[i]
	if a == 0 {
		return
	}
	p.avail[i]--
	if p.done.Has(i) {
		return
	}
	p.swap(p.pos[i], p.bstart[a])
	p.bstart[a]++
}

// retire moves piece i (now had, or not wanted) from its bucket to the done region:
// bubble it to the end of each higher bucket in turn, one swap per bucket.
func (p *Picker) retire(i int) {
	for k := int(p.avail[i]) + 1; k < len(p.bstart); k++ {
		j := p.bstart[k] - 1
		p.swap(p.pos[i], j)
		p.bstart[k]--
	}
}

// unretire moves piece i from the done region back into its availability bucket: the
// reverse of retire, one swap per bucket boundary crossed.
func (p *Picker) unretire(i int) {
	a := int(p.avail[i])
	for a+2 > len(p.bstart) { // bucket a must exist below the sentinel
		p.bstart = append(p.bstart, p.bstart[len(p.bstart)-1])
	}
	for k := len(p.bstart) - 1; k > a; k-- {
		p.swap(p.pos[i], p.bstart[k])
		p.bstart[k]++
	}
}

// AddPeer registers a peer with no pieces. Adding a known peer, or NoPeer, is a no-op.
func (p *Picker) AddPeer(k PeerKey) {
	if _, ok := p.peers[k]; ok || k == NoPeer {
		return
	}
	p.peers[k] = &peerState{has: New(p.layout.NumPieces)}
}

// RemovePeer forgets a peer: its requests are released and its pieces no longer count.
func (p *Picker) RemovePeer(k PeerKey) {
	ps := p.peers[k]
	if ps == nil {
		return
	}
	p.releaseAll(k, ps)
	if ps.seed {
		p.seeds--
	} else {
		p.forgetHave(ps)
	}
	delete(p.peers, k)
}

func (p *Picker) forgetHave(ps *peerState) {
	if ps.has.None() {
		return
	}
	for i := 0; i < ps.has.Len(); i++ {
		if ps.has.Has(i) {
			p.dec(i)
		}
	}
	ps.has = New(p.layout.NumPieces)
}

// PeerHave records a have message. Out-of-range indices are an error for the session to
// act on (BEP 3 says close the connection).
func (p *Picker) PeerHave(k PeerKey, i int) error {
	ps := p.peers[k]
	if ps == nil {
		return ErrUnknownPeer
	}
	if i < 0 || i >= p.layout.NumPieces {
		return fmt.Errorf("%w: have %d of %d pieces", ErrBadBlock, i, p.layout.NumPieces)
	}
	if ps.seed || !ps.has.Set(i) {
		return nil
	}
	p.inc(i)
	if ps.has.All() {
		p.becomeSeed(ps)
	}
	return nil
}

// becomeSeed turns a peer that has every piece into a counted seed: a seed raises every
// piece's availability alike, so counting it apart keeps the rarity order unchanged.
func (p *Picker) becomeSeed(ps *peerState) {
	p.forgetHave(ps)
	ps.seed = true
	p.seeds++
}

// PeerBitfield records a bitfield message; it replaces what the peer announced before.
func (p *Picker) PeerBitfield(k PeerKey, bf Bitfield) error {
	ps := p.peers[k]
	if ps == nil {
		return ErrUnknownPeer
	}
	if bf.Len() != p.layout.NumPieces {
		return fmt.Errorf("%w: %d pieces, want %d", ErrBitfieldLength, bf.Len(), p.layout.NumPieces)
	}
	if ps.seed {
		ps.seed = false
		p.seeds--
	}
	p.forgetHave(ps)
	if bf.All() && bf.Len() > 0 {
		ps.seed = true
		p.seeds++
		return nil
	}
	ps.has = bf.Clone()
	for i := 0; i < bf.Len(); i++ {
		if bf.Has(i) {
			p.inc(i)
		}
	}
	return nil
}

// PeerHaveAll records a BEP 6 have-all.
func (p *Picker) PeerHaveAll(k PeerKey) error {
	ps := p.peers[k]
	if ps == nil {
		return ErrUnknownPeer
	}
	if !ps.seed {
		p.becomeSeed(ps)
	}
	return nil
}

// PeerHas reports whether the peer announced piece i.
func (p *Picker) PeerHas(k PeerKey, i int) bool {
	ps := p.peers[k]
	return ps != nil && (ps.seed && i >= 0 && i < p.layout.NumPieces || ps.has.Has(i))
}

// Interesting reports whether the peer has a piece we lack (we should be interested).
func (p *Picker) Interesting(k PeerKey) bool {
	ps := p.peers[k]
	if ps == nil {
		return false
	}
	if ps.seed {
		return !p.done.All()
	}
	return p.done.HasMissing(&ps.has)
}

// PeerAllowedFast records a BEP 6 allowed-fast piece: it may be requested while choked.
func (p *Picker) PeerAllowedFast(k PeerKey, i int) {
	ps := p.peers[k]
	if ps == nil || i < 0 || i >= p.layout.NumPieces {
		return
	}
	for _, x := range ps.allowedFast {
		if int(x) == i {
			return
		}
	}
	// A peer sends a handful (libtorrent 10); bound it anyway against a flood.
	if len(ps.allowedFast) < 4*p.cfg.MaxSuggest {
		ps.allowedFast = append(ps.allowedFast, uint32(i))
	}
}

// PeerSuggest records a BEP 6 suggest: a hint to prefer that piece from this peer.
func (p *Picker) PeerSuggest(k PeerKey, i int) {
	ps := p.peers[k]
	if ps == nil || i < 0 || i >= p.layout.NumPieces {
		return
	}
	for _, x := range ps.suggest {
		if int(x) == i {
			return
		}
	}
	if len(ps.suggest) >= p.cfg.MaxSuggest {
		copy(ps.suggest, ps.suggest[1:])
		ps.suggest = ps.suggest[:len(ps.suggest)-1]
	}
	ps.suggest = append(ps.suggest, uint32(i))
}

// Outstanding returns the peer's requested blocks that have not arrived. The caller must
// not keep or modify the slice.
func (p *Picker) Outstanding(k PeerKey) []Block {
	if ps := p.peers[k]; ps != nil {
		return ps.outstanding
	}
	return nil
}

// SetHave marks piece i as ours (after a recheck or resume).
func (p *Picker) SetHave(i int) {
	if i < 0 || i >= p.layout.NumPieces || p.have.Has(i) {
		return
	}
	p.have.Set(i)
	if p.done.Has(i) { // not wanted: already out of the buckets
		return
	}
	if a := p.act[i]; a >= 0 {
		p.dropActive(p.actives[a])
	} else {
		p.unstarted--
	}
	p.retire(i)
	p.done.Set(i)
}

// Request is one block requested from one peer.
type Request struct {
	Peer  PeerKey
	Block Block
}

// SetWanted selects whether piece i is to be downloaded (all are, at first): a session
// that downloads only some files unwants the pieces wholly inside the others. Complete
// then means every wanted piece is verified. Unwanting a piece in progress drops it and
// returns its outstanding requests, for the session to cancel.
func (p *Picker) SetWanted(i int, wanted bool) (cancel []Request) {
	if i < 0 || i >= p.layout.NumPieces || p.skip.Has(i) != wanted {
		return nil
	}
	if !wanted {
		p.skip.Set(i)
		if p.have.Has(i) {
			return nil
		}
		if a := p.act[i]; a >= 0 {
			ap := p.actives[a]
			for bi := range ap.blocks {
				if b := &ap.blocks[bi]; b.state == blockRequested {
					blk := p.layout.Block(i, bi)
					cancel = append(cancel, Request{b.owner, blk})
					for _, e := range b.extra {
						cancel = append(cancel, Request{e, blk})
					}
				}
			}
			p.dropActive(ap)
		} else {
			p.unstarted--
		}
		p.retire(i)
		p.done.Set(i)
		return cancel
	}
	p.skip.Clear(i)
	if p.have.Has(i) {
		return nil
	}
	p.unretire(i)
	p.done.Clear(i)
	p.unstarted++
	return nil
}

// Wanted reports whether piece i is to be downloaded.
func (p *Picker) Wanted(i int) bool { return i >= 0 && i < p.layout.NumPieces && !p.skip.Has(i) }

// Verified marks piece i complete after its hash matched.
func (p *Picker) Verified(i int) { p.SetHave(i) }

// NoPeer is the key Failed reports for a block nobody delivered. The session must not
// use it for a real peer.
const NoPeer = ^PeerKey(0)

// Failed puts piece i back to be fetched whole after its hash did not match, and returns
// who delivered each of its blocks: by[j] sent block j (NoPeer if none did, which only
// happens when Failed is called for a piece that was not full, e.g. after a write error).
//
// Keep by until the piece verifies, then strike only the senders of the blocks that
// differed from the good data (storage.Torrent.BadBlocks tells which; Blame counts):
// libtorrent's smart ban. Striking every contributor would punish the honest peers that
// shared a piece with a bad one.
func (p *Picker) Failed(i int) (by []PeerKey) {
	if i < 0 || i >= p.layout.NumPieces || p.act[i] < 0 {
		return nil
	}
	ap := p.actives[p.act[i]]
	by = make([]PeerKey, len(ap.blocks))
	for j, b := range ap.blocks {
		by[j] = NoPeer
		if b.state == blockReceived {
			by[j] = b.from
		}
	}
	p.dropActive(ap)
	p.unstarted++
	return by
}

// dropActive removes an active piece, cancelling what is still requested for it.
func (p *Picker) dropActive(ap *active) {
	for bi := range ap.blocks {
		b := &ap.blocks[bi]
		if b.state == blockRequested {
			blk := p.layout.Block(int(ap.index), bi)
			p.unlink(b.owner, blk)
			for _, e := range b.extra {
				p.unlink(e, blk)
			}
		}
	}
	p.freeBlocks -= ap.free
	idx := p.act[ap.index]
	last := len(p.actives) - 1
	p.actives[idx] = p.actives[last]
	p.act[p.actives[idx].index] = idx
	p.actives[last] = nil
	p.actives = p.actives[:last]
	p.act[ap.index] = -1
	p.spare = append(p.spare, ap)
}

// unlink removes blk from the peer's outstanding list.
func (p *Picker) unlink(k PeerKey, blk Block) bool {
	ps := p.peers[k]
	if ps == nil {
		return false
	}
	for i, o := range ps.outstanding {
		if o == blk {
			last := len(ps.outstanding) - 1
			ps.outstanding[i] = ps.outstanding[last]
			ps.outstanding = ps.outstanding[:last]
			return true
		}
	}
	return false
}

func (p *Picker) start(i int) *active {
	var ap *active
	if n := len(p.spare); n > 0 {
		ap = p.spare[n-1]
		p.spare = p.spare[:n-1]
	} else {
		ap = new(active)
	}
	nb := p.layout.Blocks(i)
	if cap(ap.blocks) < nb {
		ap.blocks = make([]blockInfo, nb)
	}
	ap.blocks = ap.blocks[:nb]
	for j := range ap.blocks {
		ap.blocks[j] = blockInfo{extra: ap.blocks[j].extra[:0]}
	}
	ap.index = uint32(i)
	ap.free = nb
	ap.received = 0
	p.act[i] = int32(len(p.actives))
	p.actives = append(p.actives, ap)
	p.unstarted--
	p.freeBlocks += nb
	return ap
}

// take requests free blocks of ap from peer k, appending them to dst, up to *max.
func (p *Picker) take(k PeerKey, ps *peerState, ap *active, max *int, dst []Block) []Block {
	if ap.free == 0 {
		return dst
	}
	for bi := range ap.blocks {
		if *max == 0 {
			break
		}
		b := &ap.blocks[bi]
		if b.state != blockFree {
			continue
		}
		b.state = blockRequested
		b.owner = k
		ap.free--
		p.freeBlocks--
		blk := p.layout.Block(int(ap.index), bi)
		ps.outstanding = append(ps.outstanding, blk)
		dst = append(dst, blk)
		*max--
	}
	return dst
}

// startable reports whether piece i can be started from peer ps.
func (p *Picker) startable(ps *peerState, i int) bool {
	return p.act[i] < 0 && !p.done.Has(i) && (ps.seed || ps.has.Has(i))
}

// Pick appends to dst up to max new blocks to request from peer k and returns it; the
// blocks are recorded as outstanding at k. The order of preference: blocks of pieces
// already in progress, the peer's suggested pieces, then new pieces rarest first (random
// while fewer than Config.RandomFirst pieces are complete). In endgame, blocks already
// requested from other peers are handed out too, once per peer; Received then says whom to
// cancel. Pick does not check choking: call it only for a peer that unchoked us, and
// PickAllowedFast otherwise.
func (p *Picker) Pick(k PeerKey, max int, dst []Block) []Block {
	ps := p.peers[k]
	if ps == nil || max <= 0 {
		return dst
	}
	for _, ap := range p.actives {
		if max == 0 {
			return dst
		}
		if ps.seed || ps.has.Has(int(ap.index)) {
			dst = p.take(k, ps, ap, &max, dst)
		}
	}
	for _, s := range ps.suggest {
		if max == 0 {
			return dst
		}
		if p.startable(ps, int(s)) {
			dst = p.take(k, ps, p.start(int(s)), &max, dst)
		}
	}
	if max > 0 && p.unstarted > 0 {
		n := int(p.bstart[len(p.bstart)-1]) // pieces we lack
		first := 0
		if p.have.Count() < p.cfg.RandomFirst && n > 0 {
			first = p.rng.IntN(n)
		}
		for j := 0; j < n && max > 0; j++ {
			x := first + j
			if x >= n {
				x -= n
			}
			i := int(p.order[x])
			if p.startable(ps, i) {
				dst = p.take(k, ps, p.start(i), &max, dst)
			}
		}
	}
	if max > 0 && p.Endgame() {
		dst = p.pickEndgame(k, ps, max, dst)
	}
	return dst
}

// pickEndgame hands out blocks that are requested from other peers but not yet received.
func (p *Picker) pickEndgame(k PeerKey, ps *peerState, max int, dst []Block) []Block {
	for _, ap := range p.actives {
		if !ps.seed && !ps.has.Has(int(ap.index)) {
			continue
		}
		for bi := range ap.blocks {
			if max == 0 {
				return dst
			}
			b := &ap.blocks[bi]
			if b.state != blockRequested || b.owner == k || containsKey(b.extra, k) ||
				1+len(b.extra) >= p.cfg.EndgameRequesters {
				continue
			}
			b.extra = append(b.extra, k)
			blk := p.layout.Block(int(ap.index), bi)
			ps.outstanding = append(ps.outstanding, blk)
			dst = append(dst, blk)
			max--
		}
	}
	return dst
}

func containsKey(s []PeerKey, k PeerKey) bool {
	for _, x := range s {
		if x == k {
			return true
		}
	}
	return false
}

// PickAllowedFast is Pick for a peer that chokes us: it only takes blocks of the peer's
// BEP 6 allowed-fast pieces.
func (p *Picker) PickAllowedFast(k PeerKey, max int, dst []Block) []Block {
	ps := p.peers[k]
	if ps == nil {
		return dst
	}
	for _, f := range ps.allowedFast {
		if max <= 0 {
			break
		}
		i := int(f)
		if p.done.Has(i) || !(ps.seed || ps.has.Has(i)) {
			continue
		}
		ap := (*active)(nil)
		if a := p.act[i]; a >= 0 {
			ap = p.actives[a]
		} else {
			ap = p.start(i)
		}
		dst = p.take(k, ps, ap, &max, dst)
	}
	return dst
}

// Received records that peer k delivered block b. full is true when it was the last
// missing block of its piece: hash it, then call Verified or Failed. cancel lists the other
// peers b was also requested from (endgame): send them a cancel. It is nil outside endgame.
// ErrNotWanted means the data is not needed (drop it); ErrBadBlock that b is off the grid;
// ErrUnknownPeer that k was removed (drop it too).
func (p *Picker) Received(k PeerKey, b Block) (cancel []PeerKey, full bool, err error) {
	if p.peers[k] == nil {
		return nil, false, ErrUnknownPeer // removed (banned) peers' data is never used
	}
	if !p.layout.Valid(b) {
		return nil, false, fmt.Errorf("%w: %v", ErrBadBlock, b)
	}
	p.unlink(k, b)
	i := int(b.Piece)
	if p.done.Has(i) || p.act[i] < 0 {
		return nil, false, ErrNotWanted
	}
	ap := p.actives[p.act[i]]
	bi := int(b.Begin / BlockSize)
	bl := &ap.blocks[bi]
	switch bl.state {
	case blockReceived:
		return nil, false, ErrNotWanted
	case blockFree:
		ap.free--
		p.freeBlocks--
	case blockRequested:
		if bl.owner != k && p.unlink(bl.owner, b) {
			cancel = append(cancel, bl.owner)
		}
		for _, e := range bl.extra {
			if e != k && p.unlink(e, b) {
				cancel = append(cancel, e)
			}
		}
	}
	bl.state = blockReceived
	bl.from = k
	bl.extra = bl.extra[:0]
	ap.received++
	return cancel, ap.received == len(ap.blocks), nil
}

// Release returns a block requested from k to the pool: the peer rejected it, or the
// session gave up on it (timeout). Unknown blocks are ignored.
func (p *Picker) Release(k PeerKey, b Block) {
	if !p.layout.Valid(b) || !p.unlink(k, b) {
		return
	}
	p.release(k, b)
}

// release clears k as a requester of b, which is already unlinked from k.
func (p *Picker) release(k PeerKey, b Block) {
	i := int(b.Piece)
	if p.act[i] < 0 {
		return
	}
	ap := p.actives[p.act[i]]
	bl := &ap.blocks[b.Begin/BlockSize]
	if bl.state != blockRequested {
		return
	}
	if bl.owner == k {
		if len(bl.extra) > 0 {
			bl.owner = bl.extra[0]
			bl.extra = append(bl.extra[:0], bl.extra[1:]...)
			return
		}
		bl.state = blockFree
		ap.free++
		p.freeBlocks++
		return
	}
	for j, e := range bl.extra {
		if e == k {
			bl.extra = append(bl.extra[:j], bl.extra[j+1:]...)
			return
		}
	}
}

// PeerChoked releases every block outstanding at k: a choke drops the peer's queue
// (BEP 3; with BEP 6 the peer also sends rejects, which then find nothing to release).
func (p *Picker) PeerChoked(k PeerKey) {
	if ps := p.peers[k]; ps != nil {
		p.releaseAll(k, ps)
	}
}

func (p *Picker) releaseAll(k PeerKey, ps *peerState) {
	out := ps.outstanding
	ps.outstanding = ps.outstanding[:0]
	for _, b := range out {
		p.release(k, b)
	}
}
