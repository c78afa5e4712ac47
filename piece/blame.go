package piece

// Blame counts strikes per peer: a peer with Limit strikes is to be banned. K is how the
// caller names a peer: a PeerKey inside one picker, or an address when bans must survive a
// reconnect (the session's case). Give strikes for the blocks shown bad once the piece
// verified (smart ban: Picker.Failed says who sent each block, storage says which blocks
// differed), never to every contributor of a failed piece: that also punishes the honest
// peers that shared it with a bad one. The limit tolerates a rare honest corruption (bad
// RAM, a bit flipped in transit past the TCP checksum). Like Picker it belongs to one
// torrent loop and has no locks. Its map holds one entry per peer struck and not yet
// forgotten; callers Forget a peer when they ban it.
type Blame[K comparable] struct {
	// Limit is the number of strikes that bans a peer; libtorrent's smart-ban and
	// Transmission both tolerate a few. Zero means 3.
	Limit   int
	strikes map[K]int
}

// Strike records a piece that peer k sent bad data for and reports whether the peer
// reached the limit and should now be banned.
func (b *Blame[K]) Strike(k K) (ban bool) {
	if b.strikes == nil {
		b.strikes = make(map[K]int)
	}
	b.strikes[k]++
	limit := b.Limit
	if limit <= 0 {
		limit = 3
	}
	return b.strikes[k] >= limit
}

// Strikes is the peer's current count.
func (b *Blame[K]) Strikes(k K) int { return b.strikes[k] }

// Forget drops a peer's count (after it is banned or gone).
func (b *Blame[K]) Forget(k K) { delete(b.strikes, k) }
