package dht

import (
	"hash/crc32"
	"net/netip"

	"github.com/speedbt/btt/dht/krpc"
)

// ID is a node ID or an info-hash.
type ID = krpc.ID

// NodeInfo is a node's ID and UDP address.
type NodeInfo = krpc.NodeInfo

// bep42Prefix returns the CRC32-C that the first 21 bits of a BEP 42 node ID must match
// for ip and the random value r (0-7).
func bep42Prefix(ip netip.Addr, r byte) uint32 {
	ip = ip.Unmap()
	var buf []byte
	if ip.Is4() {
		b := ip.As4()
		mask := [4]byte{0x03, 0x0f, 0x3f, 0xff}
		for i := range b {
			b[i] &= mask[i]
		}
		b[0] |= (r & 7) << 5
		buf = b[:]
	} else {
		a := ip.As16()
		var b [8]byte
		mask := [8]byte{0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff}
		for i := range b {
			b[i] = a[i] & mask[i]
		}
		b[0] |= (r & 7) << 5
		buf = b[:]
	}
	// MakeTable returns the standard library's cached Castagnoli table.
	return crc32.Checksum(buf, crc32.MakeTable(crc32.Castagnoli))
}

// SecureID returns the BEP 42 node ID for external address ip. rnd supplies the
// freely chosen parts: rnd[19] is the "rand" byte stored in the last byte of the ID (its
// low 3 bits select one of eight prefixes), rnd[2]'s low 3 bits and rnd[3:19] fill the
// rest.
func SecureID(ip netip.Addr, rnd [20]byte) ID {
	crc := bep42Prefix(ip, rnd[19])
	id := ID(rnd)
	id[0] = byte(crc >> 24)
	id[1] = byte(crc >> 16)
	id[2] = byte(crc>>8)&0xf8 | rnd[2]&7
	return id
}

// ValidSecureID reports whether id obeys BEP 42 for a node at ip. Nodes on local
// networks are exempt and always valid, as the BEP says.
func ValidSecureID(id ID, ip netip.Addr) bool {
	if IsLocalAddr(ip) {
		return true
	}
	crc := bep42Prefix(ip, id[19])
	return id[0] == byte(crc>>24) && id[1] == byte(crc>>16) && id[2]&0xf8 == byte(crc>>8)&0xf8
}

// IsLocalAddr reports whether ip is loopback, private or link-local: addresses that BEP
// 42 exempts and that do not reveal a node's external address.
func IsLocalAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()
}
