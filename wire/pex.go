package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/speedbt/btt/wire/bencode"
)

// MaxPEXPeers is BEP 11's limit on the entries of each list in one ut_pex message.
const MaxPEXPeers = 50

// PEX flags (added.f / added6.f), one byte per added peer.
const (
	PEXEncryption = 0x01 // prefers encryption
	PEXSeed       = 0x02 // is a seed or upload-only
	PEXUTP        = 0x04 // supports uTP
	PEXHolepunch  = 0x08 // supports ut_holepunch
	PEXReachable  = 0x10 // the sender reached it by an outgoing connection
)

// PEXPeer is one added peer: its address and its flags byte.
type PEXPeer struct {
	Addr  netip.AddrPort
	Flags byte
}

// PEX is the payload of a BEP 11 ut_pex extended message.
//
// A nil list is not encoded; an empty non-nil one is encoded as an empty string, as
// libtorrent sends them, and decoding gives an empty non-nil list for a key that is
// present but empty. Added and Added6 are encoded with their flag lists (added.f,
// added6.f). Keys other than these six are ignored.
type PEX struct {
	Added    []PEXPeer        // IPv4 peers
	Added6   []PEXPeer        // IPv6 peers
	Dropped  []netip.AddrPort // IPv4
	Dropped6 []netip.AddrPort // IPv6
}

// pexDict is the wire form; pointers tell a missing key from an empty one.
type pexDict struct {
	Added    *[]byte `bencode:"added"`
	AddedF   *[]byte `bencode:"added.f"`
	Added6   *[]byte `bencode:"added6"`
	Added6F  *[]byte `bencode:"added6.f"`
	Dropped  *[]byte `bencode:"dropped"`
	Dropped6 *[]byte `bencode:"dropped6"`
}

// ParsePEX decodes a ut_pex payload (after the extended id byte).
//
// Each list is truncated to its first MaxPEXPeers entries rather than refused: BEP 11's
// limit protects the receiver's memory and time, which truncation does as well, while
// refusing would cut off a client that counts the limit differently (for example over
// IPv4 and IPv6 together). A compact list whose length is not a multiple of the entry
// size (6 bytes, or 18 for IPv6), or a key of the wrong type, gives an error wrapping
// ErrBadPayload. A flags list shorter than its peers leaves the missing flags zero.
func ParsePEX(payload []byte) (PEX, error) {
	var d pexDict
	if err := bencode.Unmarshal(payload, &d); err != nil {
		return PEX{}, fmt.Errorf("%w: ut_pex: %w", ErrBadPayload, err)
	}
	var p PEX
	var err error
	if p.Added, err = parseAdded(d.Added, d.AddedF, 4); err != nil {
		return PEX{}, err
	}
	if p.Added6, err = parseAdded(d.Added6, d.Added6F, 16); err != nil {
		return PEX{}, err
	}
	if p.Dropped, err = parseCompact(d.Dropped, 4); err != nil {
		return PEX{}, err
	}
	if p.Dropped6, err = parseCompact(d.Dropped6, 16); err != nil {
		return PEX{}, err
	}
	return p, nil
}

func parseAdded(list, flags *[]byte, ipLen int) ([]PEXPeer, error) {
	addrs, err := parseCompact(list, ipLen)
	if addrs == nil || err != nil {
		return nil, err
	}
	peers := make([]PEXPeer, len(addrs))
	for i, a := range addrs {
		peers[i].Addr = a
		if flags != nil && i < len(*flags) {
			peers[i].Flags = (*flags)[i]
		}
	}
	return peers, nil
}

// parseCompact decodes BEP 23 compact peers (address then big-endian port).
func parseCompact(list *[]byte, ipLen int) ([]netip.AddrPort, error) {
	if list == nil {
		return nil, nil
	}
	b := *list
	size := ipLen + 2
	if len(b)%size != 0 {
		return nil, fmt.Errorf("%w: ut_pex list of %d bytes is not a multiple of %d", ErrBadPayload, len(b), size)
	}
	n := min(len(b)/size, MaxPEXPeers)
	out := make([]netip.AddrPort, n)
	for i := range out {
		e := b[i*size:]
		var ip netip.Addr
		if ipLen == 4 {
			ip = netip.AddrFrom4([4]byte(e[:4]))
		} else {
			ip = netip.AddrFrom16([16]byte(e[:16]))
		}
		out[i] = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(e[ipLen:]))
	}
	return out, nil
}

// AppendPEX appends the bencoding of p to dst, writing at most MaxPEXPeers entries of
// each list (send the rest in a later message). An address of the wrong family for its
// list is written as the zero address of that family, so that lengths stay consistent;
// an IPv4-mapped IPv6 address in an IPv4 list is unmapped.
func AppendPEX(dst []byte, p PEX) []byte {
	// Keys in sorted order: added, added.f, added6, added6.f, dropped, dropped6.
	dst = append(dst, 'd')
	if p.Added != nil {
		dst = appendPeers(dst, "added", "added.f", p.Added, 4)
	}
	if p.Added6 != nil {
		dst = appendPeers(dst, "added6", "added6.f", p.Added6, 16)
	}
	if p.Dropped != nil {
		dst = appendAddrs(dst, "dropped", p.Dropped, 4)
	}
	if p.Dropped6 != nil {
		dst = appendAddrs(dst, "dropped6", p.Dropped6, 16)
	}
	return append(dst, 'e')
}

func appendPeers(dst []byte, key, flagKey string, peers []PEXPeer, ipLen int) []byte {
	peers = peers[:min(len(peers), MaxPEXPeers)]
	dst = bencode.AppendString(dst, key)
	dst = appendLen(dst, len(peers)*(ipLen+2))
	for _, p := range peers {
		dst = appendCompact(dst, p.Addr, ipLen)
	}
	dst = bencode.AppendString(dst, flagKey)
	dst = appendLen(dst, len(peers))
	for _, p := range peers {
		dst = append(dst, p.Flags)
	}
	return dst
}

func appendAddrs(dst []byte, key string, addrs []netip.AddrPort, ipLen int) []byte {
	addrs = addrs[:min(len(addrs), MaxPEXPeers)]
	dst = bencode.AppendString(dst, key)
	dst = appendLen(dst, len(addrs)*(ipLen+2))
	for _, a := range addrs {
		dst = appendCompact(dst, a, ipLen)
	}
	return dst
}

// appendLen appends the "<n>:" prefix of a bencoded string whose bytes follow.
func appendLen(dst []byte, n int) []byte {
	return append(strconv.AppendInt(dst, int64(n), 10), ':')
}

func appendCompact(dst []byte, a netip.AddrPort, ipLen int) []byte {
	ip := a.Addr()
	if ipLen == 4 {
		if ip = ip.Unmap(); !ip.Is4() {
			ip = netip.IPv4Unspecified()
		}
		b := ip.As4()
		dst = append(dst, b[:]...)
	} else {
		if !ip.Is6() {
			ip = netip.IPv6Unspecified()
		}
		b := ip.As16()
		dst = append(dst, b[:]...)
	}
	return binary.BigEndian.AppendUint16(dst, a.Port())
}
