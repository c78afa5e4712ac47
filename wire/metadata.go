package wire

import (
	"fmt"

	"github.com/speedbt/btt/wire/bencode"
)

// MetadataMsgType is the msg_type of a BEP 9 ut_metadata message.
type MetadataMsgType int

// ut_metadata message types.
const (
	MetadataRequest MetadataMsgType = 0
	MetadataData    MetadataMsgType = 1
	MetadataReject  MetadataMsgType = 2
)

func (t MetadataMsgType) String() string {
	switch t {
	case MetadataRequest:
		return "request"
	case MetadataData:
		return "data"
	case MetadataReject:
		return "reject"
	}
	return fmt.Sprintf("msg_type %d", int(t))
}

// MetadataPieceLen is the size of every metadata piece but the last (BEP 9).
const MetadataPieceLen = 16 << 10

// MetadataMessage is the payload of a BEP 9 ut_metadata extended message.
type MetadataMessage struct {
	Type  MetadataMsgType
	Piece int
	// TotalSize is the info dictionary's size; sent with data messages only.
	TotalSize int
	// Data is the metadata piece that follows the dictionary of a data message. Parsed
	// messages alias the payload.
	Data []byte
}

// metadataDict is the dictionary at the start of every ut_metadata payload; pointers
// tell a missing key from a zero.
type metadataDict struct {
	MsgType   *int64 `bencode:"msg_type"`
	Piece     *int64 `bencode:"piece"`
	TotalSize *int64 `bencode:"total_size"`
}

// ParseMetadataMessage decodes a ut_metadata payload (after the extended id byte).
//
// It checks what a receiver needs before it trusts the message: msg_type and piece are
// present, piece is in range, and a data message carries total_size in
// 1..MaxMetadataSize and exactly the bytes its piece should have (16 KiB, or the
// remainder for the last piece). A msg_type this package does not know is returned as
// is with no error, because BEP 9 says to ignore such messages, not to drop the peer.
// Keys other than the three above are ignored. Errors wrap ErrBadPayload.
func ParseMetadataMessage(payload []byte) (MetadataMessage, error) {
	n, err := bencode.Next(payload)
	if err != nil {
		return MetadataMessage{}, fmt.Errorf("%w: ut_metadata: %w", ErrBadPayload, err)
	}
	var d metadataDict
	if err := bencode.Unmarshal(payload[:n], &d); err != nil {
		return MetadataMessage{}, fmt.Errorf("%w: ut_metadata: %w", ErrBadPayload, err)
	}
	if d.MsgType == nil || d.Piece == nil {
		return MetadataMessage{}, fmt.Errorf("%w: ut_metadata without msg_type or piece", ErrBadPayload)
	}
	if *d.Piece < 0 || *d.Piece >= MaxMetadataSize/MetadataPieceLen || *d.MsgType < 0 || *d.MsgType > 255 {
		return MetadataMessage{}, fmt.Errorf("%w: ut_metadata msg_type %d piece %d", ErrBadPayload, *d.MsgType, *d.Piece)
	}
	m := MetadataMessage{Type: MetadataMsgType(*d.MsgType), Piece: int(*d.Piece)}
	trailing := payload[n:]
	switch m.Type {
	case MetadataRequest, MetadataReject:
		if len(trailing) != 0 {
			return MetadataMessage{}, fmt.Errorf("%w: ut_metadata %v with %d trailing bytes", ErrBadPayload, m.Type, len(trailing))
		}
	case MetadataData:
		if d.TotalSize == nil || *d.TotalSize < 1 || *d.TotalSize > MaxMetadataSize {
			return MetadataMessage{}, fmt.Errorf("%w: ut_metadata data without a valid total_size", ErrBadPayload)
		}
		m.TotalSize = int(*d.TotalSize)
		want, ok := MetadataPieceSize(m.TotalSize, m.Piece)
		if !ok || len(trailing) != want {
			return MetadataMessage{}, fmt.Errorf("%w: ut_metadata piece %d of %d-byte metadata carries %d bytes",
				ErrBadPayload, m.Piece, m.TotalSize, len(trailing))
		}
		m.Data = trailing
	default:
		if d.TotalSize != nil && *d.TotalSize > 0 && *d.TotalSize <= MaxMetadataSize {
			m.TotalSize = int(*d.TotalSize)
		}
		if len(trailing) != 0 {
			m.Data = trailing
		}
	}
	return m, nil
}

// MetadataPieceSize returns the size of metadata piece i of a totalSize-byte info
// dictionary, and false if there is no such piece.
func MetadataPieceSize(totalSize, i int) (int, bool) {
	if totalSize <= 0 || i < 0 || i >= MetadataPieces(totalSize) {
		return 0, false
	}
	return min(MetadataPieceLen, totalSize-i*MetadataPieceLen), true
}

// MetadataPieces returns how many pieces a totalSize-byte info dictionary has.
func MetadataPieces(totalSize int) int {
	if totalSize <= 0 {
		return 0
	}
	return (totalSize + MetadataPieceLen - 1) / MetadataPieceLen
}

// AppendMetadataMessage appends the ut_metadata payload for m to dst: the dictionary,
// then Data for a data message. TotalSize is written when it is non-zero.
func AppendMetadataMessage(dst []byte, m MetadataMessage) []byte {
	dst = append(dst, "d8:msg_type"...)
	dst = bencode.AppendInt(dst, int64(m.Type))
	dst = append(dst, "5:piece"...)
	dst = bencode.AppendInt(dst, int64(m.Piece))
	if m.TotalSize != 0 {
		dst = append(dst, "10:total_size"...)
		dst = bencode.AppendInt(dst, int64(m.TotalSize))
	}
	dst = append(dst, 'e')
	return append(dst, m.Data...)
}
