// Package krpc encodes and decodes the KRPC messages of the BitTorrent mainline DHT
// (BEP 5), with the BEP 32 (IPv6), BEP 42 ("ip" key) and BEP 43 ("ro" key) additions.
//
// Decoding is strict about the keys this package models and keeps every other key
// verbatim, so a message decoded and encoded again is byte for byte the one received
// (as long as the received one was canonical bencode).
package krpc

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// IDLen is the length of a node ID and of an info-hash in bytes.
const IDLen = 20

// ID is a 160-bit node ID or lookup target (an info-hash).
type ID [IDLen]byte

// String returns the ID in lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether every bit of the ID is zero.
func (id ID) IsZero() bool { return id == ID{} }

// Xor returns the XOR distance between a and b.
func (id ID) Xor(b ID) ID {
	var d ID
	for i := range d {
		d[i] = id[i] ^ b[i]
	}
	return d
}

// CommonPrefixLen returns the number of leading bits that a and b share (160 when equal).
func (id ID) CommonPrefixLen(b ID) int {
	for i := range id {
		if x := id[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return IDLen * 8
}

// Closer reports whether a is strictly closer to id than b in the XOR metric.
func (id ID) Closer(a, b ID) bool {
	for i := range id {
		da, db := a[i]^id[i], b[i]^id[i]
		if da != db {
			return da < db
		}
	}
	return false
}

// ParseID parses a 40-digit hex string.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDLen {
		return id, fmt.Errorf("krpc: id %q: want %d hex digits", s, 2*IDLen)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("krpc: id %q: %w", s, err)
	}
	return id, nil
}

// idFromBytes copies a 20-byte string into an ID.
func idFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != IDLen {
		return id, errors.New("not 20 bytes")
	}
	copy(id[:], b)
	return id, nil
}
