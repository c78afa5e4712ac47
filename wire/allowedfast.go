package wire

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
	"slices"
)

// MaxAllowedFast caps the size of an allowed-fast set. BEP 6 suggests 10; the set is a
// courtesy to a peer that has nothing yet, and a large one would let a choked peer
// download much of a torrent without reciprocating. The cap also bounds the work.
const MaxAllowedFast = 256

// AllowedFastSet returns the BEP 6 allowed-fast set of k pieces for the peer at addr on
// the torrent with the given info-hash and number of pieces, in the order the algorithm
// yields them. k is capped at numPieces (the algorithm could not finish otherwise) and
// at MaxAllowedFast; a torrent without pieces, k <= 0 or an invalid address give nil.
//
// For IPv4 this is BEP 6's algorithm, which masks the address to its /24 so one host
// cannot collect several sets. BEP 6 defines nothing for IPv6; here the address is
// masked to its /64 (what one host is usually given) and its 8 remaining bytes are
// hashed the same way. IPv4-mapped IPv6 addresses count as IPv4. Only the sender of
// allowed_fast messages computes the set, so this choice does not affect interoperability.
func AllowedFastSet(addr netip.Addr, infoHash [20]byte, numPieces, k int) []uint32 {
	if numPieces <= 0 || k <= 0 || !addr.IsValid() {
		return nil
	}
	k = min(k, numPieces, MaxAllowedFast)
	var x []byte
	var buf [8 + 20]byte
	if addr = addr.Unmap(); addr.Is4() {
		ip := addr.As4()
		ip[3] = 0
		x = append(append(buf[:0], ip[:]...), infoHash[:]...)
	} else {
		ip := addr.As16()
		x = append(append(buf[:0], ip[:8]...), infoHash[:]...)
	}
	set := make([]uint32, 0, k)
	sum := sha1.Sum(x)
	for {
		for i := 0; i < 5 && len(set) < k; i++ {
			index := binary.BigEndian.Uint32(sum[4*i:]) % uint32(numPieces)
			if !slices.Contains(set, index) {
				set = append(set, index)
			}
		}
		if len(set) == k {
			return set
		}
		sum = sha1.Sum(sum[:])
	}
}
