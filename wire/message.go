package wire

import (
	"encoding/binary"
	"strconv"
)

// MessageType identifies a peer-wire message: the id byte after the length prefix, or
// KeepAlive for the empty message that has none.
type MessageType int16

// Message types of BEP 3, BEP 5 (Port), BEP 6 and BEP 10 (Extended).
const (
	KeepAlive     MessageType = -1
	Choke         MessageType = 0
	Unchoke       MessageType = 1
	Interested    MessageType = 2
	NotInterested MessageType = 3
	Have          MessageType = 4
	Bitfield      MessageType = 5
	Request       MessageType = 6
	Piece         MessageType = 7
	Cancel        MessageType = 8
	Port          MessageType = 9
	Suggest       MessageType = 0x0d
	HaveAll       MessageType = 0x0e
	HaveNone      MessageType = 0x0f
	Reject        MessageType = 0x10
	AllowedFast   MessageType = 0x11
	Extended      MessageType = 20
)

var typeNames = [...]string{
	Choke: "choke", Unchoke: "unchoke", Interested: "interested", NotInterested: "not_interested",
	Have: "have", Bitfield: "bitfield", Request: "request", Piece: "piece", Cancel: "cancel",
	Port: "port", Suggest: "suggest", HaveAll: "have_all", HaveNone: "have_none",
	Reject: "reject_request", AllowedFast: "allowed_fast", Extended: "extended",
	HashRequest: "hash_request", Hashes: "hashes", HashReject: "hash_reject",
}

func (t MessageType) String() string {
	if t == KeepAlive {
		return "keep_alive"
	}
	if t >= 0 && int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "message_" + strconv.Itoa(int(t))
}

// Message is one decoded peer-wire message. Which fields are meaningful depends on Type:
//
//	Have, Suggest, AllowedFast     Index
//	Request, Cancel, Reject        Index, Begin, Length
//	Piece                          Index, Begin, Length (= len of the block), Payload (the block)
//	Bitfield                       Payload (the bitfield bytes)
//	Port                           Port
//	Extended                       ExtID, Payload (after the extended id byte)
//	any other id (not understood)  Payload (everything after the id byte)
//
// Messages returned by a Reader alias its buffer: Payload is valid only until the next
// call on that Reader. Copy what must be kept.
type Message struct {
	Type    MessageType
	Index   uint32
	Begin   uint32
	Length  uint32
	Port    uint16
	ExtID   uint8
	Payload []byte
}

// Per-type body lengths (after the length prefix, including the id byte).
const (
	lenNoPayload = 1
	lenIndex     = 5
	lenBlockRef  = 13
	lenPort      = 3
	lenPieceHead = 9 // a piece message's body without its block
	lenExtHead   = 2 // an extended message's body without its payload
)

// BlockLen is the block size mainstream clients request and serve: BEP 3 says 2^14,
// and many clients close connections that ask for more.
const BlockLen = 16 << 10

// Len returns the value of m's length prefix: the number of bytes after the prefix.
func (m Message) Len() int {
	switch m.Type {
	case KeepAlive:
		return 0
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		return lenNoPayload
	case Have, Suggest, AllowedFast:
		return lenIndex
	case Request, Cancel, Reject:
		return lenBlockRef
	case Port:
		return lenPort
	case Piece:
		return lenPieceHead + len(m.Payload)
	case Extended:
		return lenExtHead + len(m.Payload)
	default:
		return 1 + len(m.Payload)
	}
}

// AppendMessage appends the wire encoding of m, length prefix included, to dst. It does
// not allocate when dst has room for 4+m.Len() more bytes. For a Piece message the
// block is m.Payload; Length is ignored (to send a block from a file without copying
// it, write AppendPieceHeader's bytes and then the block). m.Type must be KeepAlive or
// a one-byte id.
func AppendMessage(dst []byte, m Message) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.Len()))
	if m.Type == KeepAlive {
		return dst
	}
	dst = append(dst, byte(m.Type))
	switch m.Type {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
	case Have, Suggest, AllowedFast:
		dst = binary.BigEndian.AppendUint32(dst, m.Index)
	case Request, Cancel, Reject:
		dst = binary.BigEndian.AppendUint32(dst, m.Index)
		dst = binary.BigEndian.AppendUint32(dst, m.Begin)
		dst = binary.BigEndian.AppendUint32(dst, m.Length)
	case Port:
		dst = binary.BigEndian.AppendUint16(dst, m.Port)
	case Piece:
		dst = binary.BigEndian.AppendUint32(dst, m.Index)
		dst = binary.BigEndian.AppendUint32(dst, m.Begin)
		dst = append(dst, m.Payload...)
	case Extended:
		dst = append(dst, m.ExtID)
		dst = append(dst, m.Payload...)
	default:
		dst = append(dst, m.Payload...)
	}
	return dst
}

// PieceHeaderLen is the length of a piece message up to its block: length prefix, id,
// index and begin.
const PieceHeaderLen = 13

// AppendPieceHeader appends the first PieceHeaderLen bytes of a piece message carrying
// a block of blockLen bytes. The caller sends the block itself right after, for
// example straight from a file with sendfile.
func AppendPieceHeader(dst []byte, index, begin uint32, blockLen int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(lenPieceHead+blockLen))
	dst = append(dst, byte(Piece))
	dst = binary.BigEndian.AppendUint32(dst, index)
	return binary.BigEndian.AppendUint32(dst, begin)
}

// AppendExtendedHeader appends the first 6 bytes of an extended message (length prefix,
// id 20, extended id) whose payload of payloadLen bytes the caller appends next.
func AppendExtendedHeader(dst []byte, extID uint8, payloadLen int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(lenExtHead+payloadLen))
	return append(dst, byte(Extended), extID)
}

// ParseMessage decodes the framed message at the start of b (length prefix included)
// and returns it with the number of bytes it took. A length prefix above maxLen
// (DefaultMaxMessageLen if maxLen <= 0) is refused with ErrMessageTooLarge; if b holds
// less than the whole message the error wraps io.ErrUnexpectedEOF. Payload aliases b.
func ParseMessage(b []byte, maxLen int) (Message, int, error) {
	if maxLen <= 0 {
		maxLen = DefaultMaxMessageLen
	}
	if len(b) < 4 {
		return Message{}, 0, &MessageError{Type: KeepAlive, Length: -1, Err: errShort}
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(maxLen) {
		return Message{}, 0, &MessageError{Type: KeepAlive, Length: int(min(n, 1<<31-1)), Err: ErrMessageTooLarge}
	}
	t := KeepAlive
	if n > 0 && len(b) > 4 {
		// Judge the length by the type first, as Reader does, so both give the same error.
		t = MessageType(b[4])
		if err := checkLength(t, int(n)); err != nil {
			return Message{}, 0, err
		}
	}
	if uint64(len(b)-4) < uint64(n) {
		return Message{}, 0, &MessageError{Type: t, Length: int(n), Err: errShort}
	}
	m, err := DecodeBody(b[4 : 4+n])
	if err != nil {
		return Message{}, 0, err
	}
	return m, 4 + int(n), nil
}

// DecodeBody decodes a message body: the bytes after the length prefix, id byte first.
// An empty body is a keep-alive. Payload aliases body.
func DecodeBody(body []byte) (Message, error) {
	if len(body) == 0 {
		return Message{Type: KeepAlive}, nil
	}
	m := Message{Type: MessageType(body[0])}
	var want int // exact body length for fixed-size types; 0 for variable ones
	switch m.Type {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		want = lenNoPayload
	case Have, Suggest, AllowedFast:
		want = lenIndex
	case Request, Cancel, Reject:
		want = lenBlockRef
	case Port:
		want = lenPort
	case Piece:
		if len(body) < lenPieceHead {
			return Message{}, &MessageError{Type: m.Type, Length: len(body), Err: ErrBadLength}
		}
	case Extended:
		if len(body) < lenExtHead {
			return Message{}, &MessageError{Type: m.Type, Length: len(body), Err: ErrBadLength}
		}
	}
	if want != 0 && len(body) != want {
		return Message{}, &MessageError{Type: m.Type, Length: len(body), Err: ErrBadLength}
	}
	switch m.Type {
	case Have, Suggest, AllowedFast:
		m.Index = binary.BigEndian.Uint32(body[1:])
	case Request, Cancel, Reject:
		m.Index = binary.BigEndian.Uint32(body[1:])
		m.Begin = binary.BigEndian.Uint32(body[5:])
		m.Length = binary.BigEndian.Uint32(body[9:])
	case Port:
		m.Port = binary.BigEndian.Uint16(body[1:])
	case Piece:
		m.Index = binary.BigEndian.Uint32(body[1:])
		m.Begin = binary.BigEndian.Uint32(body[5:])
		m.Payload = body[lenPieceHead:]
		m.Length = uint32(len(m.Payload))
	case Extended:
		m.ExtID = body[1]
		m.Payload = body[lenExtHead:]
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
	default:
		m.Payload = body[1:]
	}
	return m, nil
}
