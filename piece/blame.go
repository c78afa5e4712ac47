package piece

// Blame counts hash failures per peer: a peer that contributed to Limit failed pieces
// is to be banned. Counting (instead of banning on the first failure) keeps an honest
// peer that shared a piece with a bad one from being banned for the bad one's data.
// Like Picker it belongs to one torrent loop and has no locks.
type Blame struct {
	// Limit is the number of strikes that bans a peer; libtorrent's smart-ban and
	// Transmission both tolerate a few. Zero means 3.
	Limit   int
	strikes map[PeerKey]int
}

// Strike records a failed piece that peer k contributed to and reports whether the peer
// reached the limit and should now be banned.
func (b *Blame) Strike(k PeerKey) (ban bool) {
	if b.strikes == nil {
		b.strikes = make(map[PeerKey]int)
	}
	b.strikes[k]++
	limit := b.Limit
	if limit <= 0 {
		limit = 3
	}
	return b.strikes[k] >= limit
}

// Strikes is the peer's current count.
func (b *Blame) Strikes(k PeerKey) int { return b.strikes[k] }

// Forget drops a peer's count (after it is banned or gone).
func (b *Blame) Forget(k PeerKey) { delete(b.strikes, k) }
