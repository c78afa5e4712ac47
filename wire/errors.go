package wire

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors. Decoding functions wrap them (directly or inside a *MessageError), so
// test with errors.Is.
var (
	// ErrMessageTooLarge means a length prefix exceeded the reader's maximum. Nothing
	// was allocated for the message; the connection cannot be resynchronised.
	ErrMessageTooLarge = errors.New("wire: message too large")

	// ErrBadLength means a message's length does not fit its type, for example a have
	// message that is not exactly 5 bytes long.
	ErrBadLength = errors.New("wire: bad message length")

	// ErrBadHandshake means the first bytes of a connection are not the BitTorrent
	// protocol string.
	ErrBadHandshake = errors.New("wire: not a BitTorrent handshake")

	// ErrBadPayload means a message's payload is malformed: bencoding that does not
	// decode, a field of the wrong type or out of range, or data of the wrong size.
	ErrBadPayload = errors.New("wire: malformed payload")

	// ErrPayloadPending means ReadPayload or Discard was called when no piece payload
	// is waiting, or with a buffer whose size is not the block's length.
	ErrPayloadPending = errors.New("wire: no matching piece payload pending")
)

// errShort is what a message cut off by the end of its input wraps.
var errShort = io.ErrUnexpectedEOF

// MessageError describes a message that could not be decoded. Err is one of the
// sentinel errors above, or io.ErrUnexpectedEOF when the stream ended inside a message.
type MessageError struct {
	// Type is the offending message's type. With ErrMessageTooLarge it is KeepAlive:
	// the length is refused before the type byte is read.
	Type   MessageType
	Length int // the message's length prefix (bytes after the prefix)
	Err    error
}

func (e *MessageError) Error() string {
	return fmt.Sprintf("wire: %v message of length %d: %v", e.Type, e.Length, e.Err)
}

func (e *MessageError) Unwrap() error { return e.Err }
