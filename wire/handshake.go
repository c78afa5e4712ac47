package wire

import (
	"errors"
	"fmt"
	"io"
)

// Protocol is the protocol string every BitTorrent handshake starts with, preceded on
// the wire by its length (19).
const Protocol = "BitTorrent protocol"

const (
	// HandshakeLen is the length of a whole handshake.
	HandshakeLen = 1 + len(Protocol) + 8 + 20 + 20
	// HandshakeHeadLen is the length of a handshake up to and including the
	// info-hash: what a listener must read before it can choose a torrent and answer.
	HandshakeHeadLen = HandshakeLen - 20
)

// Reserved is the handshake's 8 reserved bytes, in which each side announces the
// extensions it supports. Bits are numbered as in BEP 4 only through the helpers
// below; the zero value announces nothing.
type Reserved [8]byte

// Reserved bits of the extensions this package speaks, as (byte index, mask).
const (
	extendedByte, extendedMask = 5, 0x10 // BEP 10: reserved[5] & 0x10
	fastByte, fastMask         = 7, 0x04 // BEP 6:  reserved[7] & 0x04
	dhtByte, dhtMask           = 7, 0x01 // BEP 5:  reserved[7] & 0x01
	v2Byte, v2Mask             = 7, 0x10 // BEP 52: reserved[7] & 0x10
)

// SupportsExtended reports whether the BEP 10 extension protocol bit is set.
func (r Reserved) SupportsExtended() bool { return r[extendedByte]&extendedMask != 0 }

// SupportsFast reports whether the BEP 6 fast extension bit is set.
func (r Reserved) SupportsFast() bool { return r[fastByte]&fastMask != 0 }

// SupportsDHT reports whether the BEP 5 DHT bit is set (the peer will send a port message).
func (r Reserved) SupportsDHT() bool { return r[dhtByte]&dhtMask != 0 }

// SupportsV2 reports whether the BEP 52 bit is set: the peer speaks v2 (hash messages)
// for this torrent, or, sent with a hybrid torrent's v1 info-hash, can upgrade to v2.
func (r Reserved) SupportsV2() bool { return r[v2Byte]&v2Mask != 0 }

// SetV2 sets or clears the BEP 52 bit.
func (r *Reserved) SetV2(on bool) { r.set(v2Byte, v2Mask, on) }

// SetExtended sets or clears the BEP 10 extension protocol bit.
func (r *Reserved) SetExtended(on bool) { r.set(extendedByte, extendedMask, on) }

// SetFast sets or clears the BEP 6 fast extension bit.
func (r *Reserved) SetFast(on bool) { r.set(fastByte, fastMask, on) }

// SetDHT sets or clears the BEP 5 DHT bit.
func (r *Reserved) SetDHT(on bool) { r.set(dhtByte, dhtMask, on) }

func (r *Reserved) set(i int, mask byte, on bool) {
	if on {
		r[i] |= mask
	} else {
		r[i] &^= mask
	}
}

// Handshake is the first message on a connection, sent by both sides.
type Handshake struct {
	Reserved Reserved
	InfoHash [20]byte
	PeerID   [20]byte
}

// AppendHandshake appends the 68-byte encoding of h to dst.
func AppendHandshake(dst []byte, h Handshake) []byte {
	dst = append(dst, byte(len(Protocol)))
	dst = append(dst, Protocol...)
	dst = append(dst, h.Reserved[:]...)
	dst = append(dst, h.InfoHash[:]...)
	return append(dst, h.PeerID[:]...)
}

// WriteHandshake writes h to w in a single Write call.
func WriteHandshake(w io.Writer, h Handshake) error {
	var buf [HandshakeLen]byte
	_, err := w.Write(AppendHandshake(buf[:0], h))
	return err
}

// ReadHandshake reads a whole 68-byte handshake. The side that dials uses it; a
// listener that serves several torrents uses ReadHandshakeHead and ReadPeerID instead.
// It checks the protocol string before it waits for the rest, so a stranger speaking
// another protocol is refused without waiting for 68 bytes.
func ReadHandshake(r io.Reader) (Handshake, error) {
	h, err := ReadHandshakeHead(r)
	if err != nil {
		return Handshake{}, err
	}
	if h.PeerID, err = ReadPeerID(r); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("wire: reading handshake: %w", io.ErrUnexpectedEOF)
		}
		return Handshake{}, err
	}
	return h, nil
}

// ReadHandshakeHead reads the first 48 bytes of a handshake (protocol string, reserved
// bytes, info-hash), leaving the peer id unread. Mainstream clients answer as soon as
// they know the info-hash and only then read the peer id; some initiators wait for that
// answer before they send their own peer id, so a listener must not block on it.
func ReadHandshakeHead(r io.Reader) (Handshake, error) {
	var buf [HandshakeHeadLen]byte
	// The protocol string first: a peer speaking something else (or MSE, which this
	// package does not do) is refused at once rather than after 48 bytes.
	if _, err := io.ReadFull(r, buf[:1+len(Protocol)]); err != nil {
		return Handshake{}, handshakeReadError(err)
	}
	var h Handshake
	if err := parseHandshakeHead(buf[:1+len(Protocol)], &h); !isShort(err) {
		return Handshake{}, err
	}
	if _, err := io.ReadFull(r, buf[1+len(Protocol):]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Handshake{}, handshakeReadError(err)
	}
	if err := parseHandshakeHead(buf[:], &h); err != nil {
		return Handshake{}, err
	}
	return h, nil
}

func isShort(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }

// ReadPeerID reads the 20-byte peer id that ends a handshake whose head was read by
// ReadHandshakeHead.
func ReadPeerID(r io.Reader) ([20]byte, error) {
	var id [20]byte
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return id, handshakeReadError(err)
	}
	return id, nil
}

// ParseHandshake decodes a handshake from the first HandshakeLen bytes of b.
func ParseHandshake(b []byte) (Handshake, error) {
	var h Handshake
	if len(b) < HandshakeLen {
		if err := parseHandshakeHead(b, &h); err != nil {
			return Handshake{}, err
		}
		return Handshake{}, fmt.Errorf("wire: handshake of %d bytes: %w", len(b), io.ErrUnexpectedEOF)
	}
	if err := parseHandshakeHead(b, &h); err != nil {
		return Handshake{}, err
	}
	copy(h.PeerID[:], b[HandshakeHeadLen:HandshakeLen])
	return h, nil
}

// parseHandshakeHead checks the protocol string of b (as much of it as is present) and
// fills in the reserved bytes and info-hash when b holds them.
func parseHandshakeHead(b []byte, h *Handshake) error {
	if len(b) > 0 && b[0] != byte(len(Protocol)) {
		return fmt.Errorf("%w: protocol string length %d", ErrBadHandshake, b[0])
	}
	n := min(len(b), 1+len(Protocol))
	if len(b) > 1 && string(b[1:n]) != Protocol[:n-1] {
		return fmt.Errorf("%w: protocol string %q", ErrBadHandshake, b[1:n])
	}
	if len(b) < HandshakeHeadLen {
		return fmt.Errorf("wire: handshake of %d bytes: %w", len(b), io.ErrUnexpectedEOF)
	}
	copy(h.Reserved[:], b[20:28])
	copy(h.InfoHash[:], b[28:48])
	return nil
}

func handshakeReadError(err error) error {
	if err == io.EOF {
		// The peer closed before saying anything: keep io.EOF so callers can tell a
		// silent close from a cut-off handshake.
		return err
	}
	return fmt.Errorf("wire: reading handshake: %w", err)
}
