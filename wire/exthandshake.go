package wire

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/speedbt/btt/wire/bencode"
)

// ExtHandshakeID is the extended message id of the BEP 10 extended handshake.
const ExtHandshakeID = 0

// Names of the extensions this package decodes, as they appear in the handshake's m dict.
const (
	ExtMetadata = "ut_metadata" // BEP 9
	ExtPEX      = "ut_pex"      // BEP 11
)

// MaxMetadataSize bounds the info dictionary size accepted from metadata_size and from
// ut_metadata messages. Real info dictionaries are far smaller (a 1 TiB torrent with
// 16 MiB pieces has 1.3 MB of hashes); the bound keeps a peer from making us reserve
// memory for metadata that cannot exist.
const MaxMetadataSize = 32 << 20

// ExtendedHandshake is the bencoded payload of the BEP 10 extended handshake (extended
// message id 0).
//
// Decoding is lenient where BEP 10 asks it to be, so that an odd peer is not cut off: a
// known key whose value has the wrong type or is out of range leaves its field zero and
// is kept, with every unknown key, in Extra. Encoding writes the non-zero fields and
// then every Extra key no field claims, all in sorted order, so decoding and re-encoding
// a mainstream client's handshake gives back its bytes.
type ExtendedHandshake struct {
	// M maps extension names to the extended message id under which this peer wants to
	// receive them; 0 means the extension is disabled. Entries that are not integers
	// in 0..255 are dropped on decode. A nil M is not encoded; an empty one is.
	M map[string]int
	// V is the client's name and version ("libtorrent/2.0.8.0").
	V string
	// P is the peer's TCP listen port, 0 when not sent.
	P int
	// Reqq is how many outstanding requests the peer queues, 0 when not sent.
	Reqq int
	// YourIP is the address the peer sees us at: 4 or 16 bytes, nil when not sent.
	YourIP []byte
	// MetadataSize is the info dictionary's size in bytes (BEP 9), 0 when unknown.
	MetadataSize int
	// Extra keeps every other key with its exact encoded value, for example
	// libtorrent's complete_ago or BEP 21's upload_only.
	Extra map[string]bencode.RawMessage
}

// Keys of the fields above.
const (
	keyM            = "m"
	keyV            = "v"
	keyP            = "p"
	keyReqq         = "reqq"
	keyYourIP       = "yourip"
	keyMetadataSize = "metadata_size"
)

// ParseExtendedHandshake decodes an extended handshake payload (after the extended id
// byte). Input that is not a bencoded dictionary gives an error wrapping ErrBadPayload.
func ParseExtendedHandshake(payload []byte) (ExtendedHandshake, error) {
	var raw map[string]bencode.RawMessage
	if err := bencode.Unmarshal(payload, &raw); err != nil {
		return ExtendedHandshake{}, fmt.Errorf("%w: extended handshake: %w", ErrBadPayload, err)
	}
	var h ExtendedHandshake
	for k, v := range raw {
		if !h.setKnown(k, v) {
			if h.Extra == nil {
				h.Extra = make(map[string]bencode.RawMessage)
			}
			h.Extra[k] = v
		}
	}
	return h, nil
}

// YourAddr returns YourIP as an address, and false when it was not sent.
func (h ExtendedHandshake) YourAddr() (netip.Addr, bool) {
	return netip.AddrFromSlice(h.YourIP)
}

// setKnown stores the value of a known key in its field and reports whether it did.
func (h *ExtendedHandshake) setKnown(k string, v bencode.RawMessage) bool {
	switch k {
	case keyM:
		var m map[string]bencode.RawMessage
		if bencode.Unmarshal(v, &m) != nil {
			return false
		}
		h.M = make(map[string]int, len(m))
		for name, id := range m {
			if n, ok := rawInt(id, 0, 255); ok {
				h.M[name] = n
			}
		}
		return true
	case keyV:
		var s string
		if len(v) == 0 || v[0] < '0' || v[0] > '9' || bencode.Unmarshal(v, &s) != nil || s == "" {
			return false
		}
		h.V = s
		return true
	case keyP:
		n, ok := rawInt(v, 1, 65535)
		h.P = n
		return ok
	case keyReqq:
		n, ok := rawInt(v, 1, 1<<31-1)
		h.Reqq = n
		return ok
	case keyMetadataSize:
		n, ok := rawInt(v, 1, MaxMetadataSize)
		h.MetadataSize = n
		return ok
	case keyYourIP:
		var b []byte
		if len(v) == 0 || v[0] < '0' || v[0] > '9' || bencode.Unmarshal(v, &b) != nil || (len(b) != 4 && len(b) != 16) {
			return false
		}
		h.YourIP = b
		return true
	}
	return false
}

// rawInt decodes an encoded integer in [lo, hi]; out of range or not an integer gives 0, false.
func rawInt(v bencode.RawMessage, lo, hi int64) (int, bool) {
	if len(v) == 0 || v[0] != 'i' {
		return 0, false
	}
	var n int64
	if bencode.Unmarshal(v, &n) != nil || n < lo || n > hi {
		return 0, false
	}
	return int(n), true
}

// AppendExtendedHandshake appends the bencoding of h (the extended message payload) to dst.
func AppendExtendedHandshake(dst []byte, h ExtendedHandshake) []byte {
	keys := make([]string, 0, 6+len(h.Extra))
	set := map[string]bool{
		keyM: h.M != nil, keyV: h.V != "", keyP: h.P != 0, keyReqq: h.Reqq != 0,
		keyYourIP: h.YourIP != nil, keyMetadataSize: h.MetadataSize != 0,
	}
	for k, on := range set {
		if on {
			keys = append(keys, k)
		}
	}
	for k := range h.Extra {
		if !set[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	dst = append(dst, 'd')
	for _, k := range keys {
		dst = bencode.AppendString(dst, k)
		switch {
		case k == keyM && set[k]:
			dst = appendIntDict(dst, h.M)
		case k == keyV && set[k]:
			dst = bencode.AppendString(dst, h.V)
		case k == keyP && set[k]:
			dst = bencode.AppendInt(dst, int64(h.P))
		case k == keyReqq && set[k]:
			dst = bencode.AppendInt(dst, int64(h.Reqq))
		case k == keyYourIP && set[k]:
			dst = bencode.AppendBytes(dst, h.YourIP)
		case k == keyMetadataSize && set[k]:
			dst = bencode.AppendInt(dst, int64(h.MetadataSize))
		default:
			dst = append(dst, h.Extra[k]...)
		}
	}
	return append(dst, 'e')
}

func appendIntDict(dst []byte, m map[string]int) []byte {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	dst = append(dst, 'd')
	for _, k := range names {
		dst = bencode.AppendString(dst, k)
		dst = bencode.AppendInt(dst, int64(m[k]))
	}
	return append(dst, 'e')
}
