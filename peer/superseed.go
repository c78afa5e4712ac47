package peer

import (
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

// BEP 16 super-seeding, for a seed that wants its first upload spread fast: instead of a
// bitfield or have_all, each peer is told of one piece at a time (HAVE), the rarest one not
// offered to anyone else, and is served only pieces it was offered. When the peer announces
// that it has the piece (it downloaded it, and others can now get it from it), it is offered
// another. So every byte we send is a byte the swarm did not have, and peers must trade with
// each other for the rest.

// superSeed is the super-seeding state, owned by the torrent loop. offered holds, per
// connection, the pieces it was offered: at most one outstanding at a time plus the ones
// it already completed, so at most the torrent's piece count per connection.
type superSeed struct {
	offered map[piece.PeerKey]map[uint32]bool // piece -> still outstanding
	offers  []int                             // per piece: connections it is outstanding at
}

func newSuperSeed(numPieces int) *superSeed {
	return &superSeed{offered: map[piece.PeerKey]map[uint32]bool{}, offers: make([]int, numPieces)}
}

// superSeeding reports whether c gets the super-seeding treatment: only while we seed.
func (t *torrent) superSeeding() bool { return t.super != nil && t.picker.Complete() }

// superOffer tells c of one more piece: among those c lacks, the one outstanding at the
// fewest peers, then the rarest in the swarm. Nothing when c has them all.
func (t *torrent) superOffer(c *conn) {
	ss := t.super
	best, bestOffers, bestAvail := -1, 0, 0
	for i := range t.layout.NumPieces {
		if c.ls.has.Has(i) || ss.offered[c.key][uint32(i)] {
			continue
		}
		o, a := ss.offers[i], t.picker.Availability(i)
		if best < 0 || o < bestOffers || (o == bestOffers && a < bestAvail) {
			best, bestOffers, bestAvail = i, o, a
		}
	}
	if best < 0 {
		return
	}
	if ss.offered[c.key] == nil {
		ss.offered[c.key] = map[uint32]bool{}
	}
	ss.offered[c.key][uint32(best)] = true
	ss.offers[best]++
	c.send(wire.Message{Type: wire.Have, Index: uint32(best)})
}

// superAllows reports whether c may request piece i: it was offered it.
func (t *torrent) superAllows(c *conn, i uint32) bool {
	_, ok := t.super.offered[c.key][i]
	return ok
}

// superOnHave notes that c announced piece i. If it was c's outstanding offer, c completed
// it: offer the next.
func (t *torrent) superOnHave(c *conn, i uint32) {
	ss := t.super
	if out, ok := ss.offered[c.key][i]; ok && out {
		ss.offered[c.key][i] = false
		ss.offers[i]--
		t.superOffer(c)
	}
}

// superForget drops a closed connection's offers.
func (t *torrent) superForget(c *conn) {
	ss := t.super
	for i, out := range ss.offered[c.key] {
		if out {
			ss.offers[i]--
		}
	}
	delete(ss.offered, c.key)
}

// superOnBitfield re-offers when c's bitfield shows it already has a piece it was offered
// (the offer was made on connect, before its bitfield arrived): it would never request it.
func (t *torrent) superOnBitfield(c *conn) {
	for i, out := range t.super.offered[c.key] {
		if out && c.ls.has.Has(int(i)) {
			t.superOnHave(c, i)
		}
	}
}
