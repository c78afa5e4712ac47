package peer

import (
	"slices"

	"github.com/speedbt/btt/wire"
)

// BEP 6 allowed-fast, the granting side. A fast peer gets its allowed-fast set (computed
// from its address and the info-hash, wire.AllowedFastSet, Settings.AllowedFast pieces)
// right after our bitfield, and may request those pieces while we choke it: a newcomer
// with nothing gets its first pieces, and so something to trade, without waiting for an
// optimistic unchoke. The set depends only on the address's /24 (/64), so reconnecting
// does not widen it. Requests for granted pieces still pass the rest of onRequest's
// checks (we have the piece, the peer's queue bound, Speed billing). The receiving side
// (the sets peers grant us) is the picker's PeerAllowedFast / PickAllowedFast.

// grantAllowedFast sends c its allowed-fast set, if it speaks the fast extension; it runs
// once, after the bitfield (BEP 6 allows it any time after the handshake). A Speed torrent
// grants none: it sells its upload, and pieces served to a choked peer carry no price, so
// they would escape the bound on unpaid data (conformance.TestNonPayerChokedThenBanned
// measured 5 pieces beyond it with a set of 10).
func (t *torrent) grantAllowedFast(c *conn) {
	if !c.fast() || t.s.settings.AllowedFast <= 0 || t.speedOn() {
		return
	}
	c.ls.grantedFast = wire.AllowedFastSet(c.addr.Addr(), t.infoHash, t.layout.NumPieces, t.s.settings.AllowedFast)
	for _, i := range c.ls.grantedFast {
		c.send(wire.Message{Type: wire.AllowedFast, Index: i})
	}
}

// allowedFastFor reports whether we let c fetch piece i while choked: i is in the set we
// granted it (at most wire.MaxAllowedFast pieces, so a scan is enough).
func (t *torrent) allowedFastFor(c *conn, i uint32) bool {
	return slices.Contains(c.ls.grantedFast, i)
}
