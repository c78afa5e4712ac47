package utp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Type is a uTP packet type (the high nibble of the first header byte).
type Type uint8

// The packet types of BEP 29.
const (
	TypeData  Type = 0 // ST_DATA: carries payload
	TypeFin   Type = 1 // ST_FIN: the last sequence number of the stream
	TypeState Type = 2 // ST_STATE: an ack; takes no sequence number
	TypeReset Type = 3 // ST_RESET: the connection is gone
	TypeSyn   Type = 4 // ST_SYN: opens a connection
)

func (t Type) String() string {
	switch t {
	case TypeData:
		return "ST_DATA"
	case TypeFin:
		return "ST_FIN"
	case TypeState:
		return "ST_STATE"
	case TypeReset:
		return "ST_RESET"
	case TypeSyn:
		return "ST_SYN"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Version is the only uTP version; it sits in the low nibble of the first byte, which is
// how a shared UDP socket tells uTP from other protocols.
const Version = 1

// HeaderSize is the size of the fixed uTP header.
const HeaderSize = 20

// ExtSelectiveAck is the extension type of the selective-ack bitmask.
const ExtSelectiveAck = 1

// ExtBits is the extension-bits extension (8 bytes) that libutp defined for feature
// negotiation and sends, all zero, on its SYN.
const ExtBits = 2

// bigDatagramsByte and bigDatagramsBit locate our one feature bit in ExtBits: set on a
// SYN, or on the ST_STATE that answers one, it says this end takes datagrams of any size
// UDP allows (maxRecvPayload of uTP payload), so that two of our sockets on one host can
// use big packets instead of 1400-byte ones (Config.LocalPacketSize). It is a bit, not a
// size, because both libutp (Transmission) and Wireshark's bt-utp dissector refuse any
// packet whose extension types are not 1 or 2 (libutp's UTP_IsV1 checks ext < 3): a new
// extension type on our SYN made Transmission drop it. libtorrent skips type 2, libutp
// copies the bits and uses none of them. The last bit of the field, as no
// implementation we know of assigns any.
const (
	bigDatagramsByte = 7
	bigDatagramsBit  = 0x80
)

// extBitsBigDatagrams is the ExtBits payload we send: only our feature bit set.
var extBitsBigDatagrams = [8]byte{bigDatagramsByte: bigDatagramsBit}

// maxRecvPayload is the most uTP payload one UDP datagram can hold (65507 bytes of UDP
// payload over IPv4, minus our header); the reader's buffer takes a whole datagram.
const maxRecvPayload = 65507 - HeaderSize

// maxExtensions bounds the extension chain a packet may carry; real peers send at most two.
const maxExtensions = 8

// ErrMalformed is wrapped by every header decoding error.
var ErrMalformed = errors.New("utp: malformed packet")

// Extension is one entry of the header's extension chain.
type Extension struct {
	Type uint8
	Data []byte // aliases the decoded packet
}

// Header is a decoded uTP header with its extensions.
type Header struct {
	Type          Type
	ConnID        uint16
	Timestamp     uint32 // sender's clock, microseconds
	TimestampDiff uint32 // sender's clock minus the timestamp of the last packet it received
	WindowSize    uint32 // bytes the sender can still receive
	Seq           uint16
	Ack           uint16
	Extensions    []Extension
}

// SelectiveAck returns the selective-ack bitmask, or nil. Bit i (least significant bit
// first within each byte) acknowledges sequence number Ack+2+i.
func (h *Header) SelectiveAck() []byte {
	for _, e := range h.Extensions {
		if e.Type == ExtSelectiveAck {
			return e.Data
		}
	}
	return nil
}

// BigDatagrams reports whether h carries ExtBits with our big-datagram bit set.
func (h *Header) BigDatagrams() bool {
	for _, e := range h.Extensions {
		if e.Type == ExtBits && len(e.Data) == 8 && e.Data[bigDatagramsByte]&bigDatagramsBit != 0 {
			return true
		}
	}
	return false
}

// Decode parses a uTP packet into h and returns its payload. It reuses h.Extensions'
// backing array, so decoding many packets into one Header does not allocate. Extension
// data and the payload alias b.
func (h *Header) Decode(b []byte) (payload []byte, err error) {
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, need %d", ErrMalformed, len(b), HeaderSize)
	}
	if b[0]&0x0f != Version {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, b[0]&0x0f)
	}
	t := Type(b[0] >> 4)
	if t > TypeSyn {
		return nil, fmt.Errorf("%w: type %d", ErrMalformed, t)
	}
	h.Type = t
	h.ConnID = binary.BigEndian.Uint16(b[2:])
	h.Timestamp = binary.BigEndian.Uint32(b[4:])
	h.TimestampDiff = binary.BigEndian.Uint32(b[8:])
	h.WindowSize = binary.BigEndian.Uint32(b[12:])
	h.Seq = binary.BigEndian.Uint16(b[16:])
	h.Ack = binary.BigEndian.Uint16(b[18:])
	h.Extensions = h.Extensions[:0]
	next := b[1]
	rest := b[HeaderSize:]
	for next != 0 {
		if len(h.Extensions) == maxExtensions {
			return nil, fmt.Errorf("%w: more than %d extensions", ErrMalformed, maxExtensions)
		}
		if len(rest) < 2 {
			return nil, fmt.Errorf("%w: truncated extension header", ErrMalformed)
		}
		typ, n := next, int(rest[1])
		next = rest[0]
		if len(rest)-2 < n {
			return nil, fmt.Errorf("%w: extension %d wants %d bytes, %d left", ErrMalformed, typ, n, len(rest)-2)
		}
		// BEP 29 asks for a multiple of 4 bytes, but libtorrent sends (span+7)/8 bytes
		// (1 to 32) for the out-of-order span it holds: rejecting those dropped its
		// packets whole (data and acks) exactly when loss made it selectively ack.
		if typ == ExtSelectiveAck && n == 0 {
			return nil, fmt.Errorf("%w: empty selective ack", ErrMalformed)
		}
		h.Extensions = append(h.Extensions, Extension{Type: typ, Data: rest[2 : 2+n : 2+n]})
		rest = rest[2+n:]
	}
	return rest, nil
}

// EncodedLen is the number of bytes Append writes for h.
func (h *Header) EncodedLen() int {
	n := HeaderSize
	for _, e := range h.Extensions {
		n += 2 + len(e.Data)
	}
	return n
}

// Append appends the encoded header and its extensions to b. It fails if an extension
// is longer than 255 bytes or is an empty selective ack.
func (h *Header) Append(b []byte) ([]byte, error) {
	if h.Type > TypeSyn {
		return b, fmt.Errorf("utp: cannot encode packet type %d", h.Type)
	}
	for _, e := range h.Extensions {
		if e.Type == 0 || len(e.Data) > 255 || (e.Type == ExtSelectiveAck && len(e.Data) == 0) {
			return b, fmt.Errorf("utp: cannot encode extension %d of %d bytes", e.Type, len(e.Data))
		}
	}
	var first uint8
	if len(h.Extensions) > 0 {
		first = h.Extensions[0].Type
	}
	b = append(b, uint8(h.Type)<<4|Version, first)
	b = binary.BigEndian.AppendUint16(b, h.ConnID)
	b = binary.BigEndian.AppendUint32(b, h.Timestamp)
	b = binary.BigEndian.AppendUint32(b, h.TimestampDiff)
	b = binary.BigEndian.AppendUint32(b, h.WindowSize)
	b = binary.BigEndian.AppendUint16(b, h.Seq)
	b = binary.BigEndian.AppendUint16(b, h.Ack)
	for i, e := range h.Extensions {
		var next uint8
		if i+1 < len(h.Extensions) {
			next = h.Extensions[i+1].Type
		}
		b = append(b, next, uint8(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b, nil
}

// putHeader writes a header without extensions into b[:HeaderSize]; the send path uses
// it to fill the headroom in front of a payload that is already in place.
func putHeader(b []byte, t Type, ext uint8, connID uint16, ts, tsDiff, wnd uint32, seq, ack uint16) {
	_ = b[HeaderSize-1]
	b[0] = uint8(t)<<4 | Version
	b[1] = ext
	binary.BigEndian.PutUint16(b[2:], connID)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], tsDiff)
	binary.BigEndian.PutUint32(b[12:], wnd)
	binary.BigEndian.PutUint16(b[16:], seq)
	binary.BigEndian.PutUint16(b[18:], ack)
}

// IsPacket reports whether b has the shape of a uTP packet: at least a header, version 1
// in the low nibble of the first byte and a known type. A bencoded DHT message starts
// with 'd' (0x64, low nibble 4) and is never taken for uTP.
func IsPacket(b []byte) bool {
	return len(b) >= HeaderSize && b[0]&0x0f == Version && Type(b[0]>>4) <= TypeSyn
}

// seqLess reports whether sequence number a comes before b, modulo 2^16.
func seqLess(a, b uint16) bool { return int16(a-b) < 0 }
