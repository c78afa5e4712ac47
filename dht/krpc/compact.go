package krpc

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Sizes of the compact encodings (BEP 5 and BEP 32).
const (
	CompactAddr4Len = 6       // IPv4 address and port
	CompactAddr6Len = 18      // IPv6 address and port
	CompactNode4Len = 20 + 6  // node ID, IPv4 address and port
	CompactNode6Len = 20 + 18 // node ID, IPv6 address and port
)

// NodeInfo is a node's ID and UDP address, as carried in "nodes" and "nodes6".
type NodeInfo struct {
	ID   ID
	Addr netip.AddrPort
}

// AppendCompactAddr appends the compact form of a (6 bytes for IPv4, 18 for IPv6,
// including IPv4-mapped IPv6, so that decoding gives back the same address).
func AppendCompactAddr(dst []byte, a netip.AddrPort) []byte {
	ip := a.Addr()
	if ip.Is4() {
		b := ip.As4()
		dst = append(dst, b[:]...)
	} else {
		b := ip.As16()
		dst = append(dst, b[:]...)
	}
	return binary.BigEndian.AppendUint16(dst, a.Port())
}

// ParseCompactAddr decodes a 6- or 18-byte compact address.
func ParseCompactAddr(b []byte) (netip.AddrPort, error) {
	switch len(b) {
	case CompactAddr4Len:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), binary.BigEndian.Uint16(b[4:])), nil
	case CompactAddr6Len:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[:16])), binary.BigEndian.Uint16(b[16:])), nil
	}
	return netip.AddrPort{}, fmt.Errorf("compact address of %d bytes, want 6 or 18", len(b))
}

// AppendCompactNodes appends the compact form of nodes of one family: IPv4 nodes when
// v6 is false (26 bytes each), IPv6 nodes otherwise (38 bytes each). Nodes of the other
// family are skipped.
func AppendCompactNodes(dst []byte, nodes []NodeInfo, v6 bool) []byte {
	for _, n := range nodes {
		if n.Addr.Addr().Is4() == v6 {
			continue
		}
		dst = append(dst, n.ID[:]...)
		dst = AppendCompactAddr(dst, n.Addr)
	}
	return dst
}

// ParseCompactNodes decodes a "nodes" (v6 false) or "nodes6" (v6 true) string.
func ParseCompactNodes(b []byte, v6 bool) ([]NodeInfo, error) {
	size := CompactNode4Len
	if v6 {
		size = CompactNode6Len
	}
	if len(b)%size != 0 {
		return nil, fmt.Errorf("compact nodes of %d bytes, not a multiple of %d", len(b), size)
	}
	out := make([]NodeInfo, 0, len(b)/size)
	for ; len(b) > 0; b = b[size:] {
		a, err := ParseCompactAddr(b[IDLen:size])
		if err != nil {
			return nil, err
		}
		out = append(out, NodeInfo{ID: ID(b[:IDLen]), Addr: a})
	}
	return out, nil
}
