package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxMessageLen is the length-prefix limit NewReader uses when given none:
// room for a 128 KiB block or the bitfield of a torrent with two million pieces, far
// above what mainstream clients send (16 KiB blocks), yet small enough that a hostile
// peer cannot make a connection hold much memory.
const DefaultMaxMessageLen = 256 << 10

// readBufferSize is the Reader's own read-ahead. Small messages (have, request, cancel)
// are served from it without a system call each; a block's tail goes around it straight
// into the caller's buffer.
const readBufferSize = 4 << 10

// directAllocLimit is the largest body buffer a Reader allocates in one step. A longer
// message grows the buffer as its bytes actually arrive, so a peer that announces a
// large message and sends nothing costs at most this much.
const directAllocLimit = 64 << 10

// Reader reads framed peer-wire messages from a stream, reusing one buffer.
//
// A Reader is not safe for concurrent use; a connection has one reader goroutine. After
// an error from ReadMessage or ReadHeader the stream position is undefined (a refused
// message is not skipped), so the Reader is to be abandoned with its connection. Errors
// in payloads decoded later (ParseExtendedHandshake and the like) leave it usable.
type Reader struct {
	src     io.Reader // what br reads from: a block's tail is read from it directly
	br      *bufio.Reader
	maxLen  int
	buf     []byte // bodies too long for the read-ahead buffer, reused between messages
	pending int    // bytes of a piece block left on the stream by ReadHeader
	inPiece bool   // ReadHeader returned a piece whose block ReadPayload has not read
}

// NewReader returns a Reader that refuses messages whose length prefix exceeds maxLen
// (DefaultMaxMessageLen if maxLen <= 0). The limit is checked before anything is
// allocated for the message.
func NewReader(r io.Reader, maxLen int) *Reader {
	return NewReaderSize(r, maxLen, readBufferSize)
}

// NewReaderSize is NewReader with a read-ahead of bufSize bytes. Only the part of a block
// that is already in the read-ahead is copied out of it (ReadPayload reads the rest
// straight into the caller's buffer), so a read-ahead bigger than a block buys little.
func NewReaderSize(r io.Reader, maxLen, bufSize int) *Reader {
	if maxLen <= 0 {
		maxLen = DefaultMaxMessageLen
	}
	return &Reader{src: r, br: bufio.NewReaderSize(r, max(bufSize, readBufferSize)), maxLen: maxLen}
}

// MaxLen returns the largest length prefix the Reader accepts.
func (r *Reader) MaxLen() int { return r.maxLen }

// ReadMessage reads the next message whole. Its Payload aliases the Reader's buffer and
// is valid until the next call on r. At a clean end of stream (between messages) it
// returns io.EOF; a stream cut inside a message gives a *MessageError wrapping
// io.ErrUnexpectedEOF.
func (r *Reader) ReadMessage() (Message, error) { return r.read(false) }

// ReadHeader is ReadMessage except that a piece message's block is left on the stream:
// the returned message has Index, Begin and Length (the block's size) but no Payload,
// and the caller must next call ReadPayload with a buffer of exactly Length bytes, so
// the block lands in its final buffer without a copy. If the caller calls ReadHeader
// or ReadMessage instead, the block is skipped.
func (r *Reader) ReadHeader() (Message, error) { return r.read(true) }

// ReadPayload reads the block of the piece message last returned by ReadHeader into dst,
// which must be exactly as long as that message's Length.
func (r *Reader) ReadPayload(dst []byte) error {
	if !r.inPiece || len(dst) != r.pending {
		return fmt.Errorf("%w: %d bytes pending, buffer of %d", ErrPayloadPending, r.pending, len(dst))
	}
	n := r.pending
	r.pending, r.inPiece = 0, false
	// What the read-ahead holds is copied out; the rest of the block is read from the
	// stream straight into dst. Once the read-ahead is empty that is the same stream
	// position, and it saves copying the tail through the buffer (at loopback speed the
	// copy costs more than the system call).
	head := min(r.br.Buffered(), len(dst))
	if _, err := io.ReadFull(r.br, dst[:head]); err != nil {
		return r.bodyError(Piece, lenPieceHead+n, err)
	}
	if _, err := io.ReadFull(r.src, dst[head:]); err != nil {
		return r.bodyError(Piece, lenPieceHead+n, err)
	}
	return nil
}

func (r *Reader) read(headerOnly bool) (Message, error) {
	if r.inPiece {
		n := r.pending
		r.pending, r.inPiece = 0, false
		if _, err := r.br.Discard(n); err != nil {
			return Message{}, r.bodyError(Piece, lenPieceHead+n, err)
		}
	}
	// Peek rather than read: small messages are then decoded in place in the read-ahead
	// buffer, with no copy and no system call of their own.
	p, err := r.br.Peek(4)
	if err != nil {
		if err == io.EOF && len(p) == 0 {
			return Message{}, io.EOF
		}
		return Message{}, r.bodyError(KeepAlive, -1, err)
	}
	n32 := binary.BigEndian.Uint32(p)
	if uint64(n32) > uint64(r.maxLen) {
		return Message{}, &MessageError{Type: KeepAlive, Length: int(min(n32, 1<<31-1)), Err: ErrMessageTooLarge}
	}
	n := int(n32)
	if n == 0 {
		r.br.Discard(4)
		return Message{Type: KeepAlive}, nil
	}
	if p, err = r.br.Peek(5); err != nil {
		return Message{}, r.bodyError(KeepAlive, n, err)
	}
	t := MessageType(p[4])
	if err := checkLength(t, n); err != nil {
		return Message{}, err
	}
	if headerOnly && t == Piece {
		if p, err = r.br.Peek(4 + lenPieceHead); err != nil {
			return Message{}, r.bodyError(t, n, err)
		}
		m := Message{
			Type:   Piece,
			Index:  binary.BigEndian.Uint32(p[5:9]),
			Begin:  binary.BigEndian.Uint32(p[9:13]),
			Length: uint32(n - lenPieceHead),
		}
		r.br.Discard(4 + lenPieceHead)
		r.pending, r.inPiece = n-lenPieceHead, true
		return m, nil
	}
	if 4+n <= r.br.Size() {
		if p, err = r.br.Peek(4 + n); err != nil {
			return Message{}, r.bodyError(t, n, err)
		}
		m, err := DecodeBody(p[4:])
		r.br.Discard(4 + n)
		return m, err
	}
	r.br.Discard(5)
	body, err := r.readBody(p[4], n)
	if err != nil {
		return Message{}, r.bodyError(t, n, err)
	}
	return DecodeBody(body)
}

// checkLength applies the per-type length rules before the body is read, so a message
// that cannot be valid is refused before its bytes are buffered.
func checkLength(t MessageType, n int) error {
	ok := true
	switch t {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		ok = n == lenNoPayload
	case Have, Suggest, AllowedFast:
		ok = n == lenIndex
	case Request, Cancel, Reject:
		ok = n == lenBlockRef
	case Port:
		ok = n == lenPort
	case Piece:
		ok = n >= lenPieceHead
	case Extended:
		ok = n >= lenExtHead
	}
	if !ok {
		return &MessageError{Type: t, Length: n, Err: ErrBadLength}
	}
	return nil
}

// readBody reads the n-byte body whose first byte (id) was already consumed.
func (r *Reader) readBody(id byte, n int) ([]byte, error) {
	if cap(r.buf) >= n {
		b := r.buf[:n]
		b[0] = id
		_, err := io.ReadFull(r.br, b[1:])
		return b, err
	}
	if n <= directAllocLimit {
		r.buf = make([]byte, n)
		r.buf[0] = id
		_, err := io.ReadFull(r.br, r.buf[1:])
		return r.buf, err
	}
	// A large message: grow by doubling as the bytes arrive, never past n (<= maxLen).
	b := r.buf[:0]
	if cap(b) < directAllocLimit {
		b = make([]byte, 0, directAllocLimit)
	}
	b = append(b, id)
	for len(b) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(2*cap(b), n))
			copy(nb, b)
			b = nb
		}
		end := min(cap(b), n)
		k, err := io.ReadFull(r.br, b[len(b):end])
		b = b[:len(b)+k]
		if err != nil {
			return nil, err
		}
	}
	r.buf = b
	return b, nil
}

// bodyError turns a read error inside a message into a *MessageError when the stream
// was cut short, and passes other errors (timeouts, closed connections) through wrapped.
func (r *Reader) bodyError(t MessageType, n int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &MessageError{Type: t, Length: n, Err: io.ErrUnexpectedEOF}
	}
	if n < 0 {
		return fmt.Errorf("wire: reading message length: %w", err)
	}
	return fmt.Errorf("wire: reading %v message: %w", t, err)
}
