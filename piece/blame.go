package piece

// Blame counts strikes per peer: a peer with Limit strikes is to be banned. Give strikes
// for the blocks shown bad once the piece verified (smart ban: Picker.Failed says who
// sent each block, storage says which blocks differed); striking every contributor of a
// failed piece also punishes the honest peers that shared it with a bad one, which only a
// high Limit makes bearable. The limit also tolerates a rare honest corruption (bad RAM,
// a bit flipped in transit past the TCP checksum). Like Picker it belongs to one torrent
// loop and has no locks.
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
