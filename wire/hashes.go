package wire

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// BEP 52 message types: a peer asks for a range of one file's merkle tree (HashRequest),
// and is answered with the hashes and their uncle proof (Hashes) or refused (HashReject).
// Only peers that both set the v2 bit in their handshake send them.
const (
	HashRequest MessageType = 21
	Hashes      MessageType = 22
	HashReject  MessageType = 23
)

// hashHeadLen is the body of a hash request or reject, and the head of a hashes message,
// after the id byte: pieces root, base layer, index, length, proof layers.
const hashHeadLen = 32 + 4*4

// MaxHashCount caps the number of base-layer hashes one request may ask for. 8192 is
// libtorrent's cap: the block layer of a 128 MiB piece, the largest it handles.
const MaxHashCount = 8192

// MaxProofLayers caps the proof layers of a request: a merkle tree of 2^31 leaves (the
// most a uint32 index can name) has 32 layers.
const MaxProofLayers = 32

// HashReq is the body of a hash request, hashes or hash reject message: which hashes of
// the merkle tree of the file whose pieces root is PiecesRoot. BaseLayer counts up from
// the 16 KiB block leaves (0); Index is the first hash's position in that layer; Length
// is how many (BEP 52 asks for a power of two and an index that is a multiple of it, but
// libtorrent 2.0 sends one-hash requests for 16 KiB pieces, so neither is required here);
// ProofLayers asks for the uncle hashes that prove the range against the root, counted
// from the base layer.
type HashReq struct {
	PiecesRoot  [32]byte
	BaseLayer   uint32
	Index       uint32
	Length      uint32
	ProofLayers uint32
}

// Check reports whether r is well-formed on its own, before a torrent says whether it
// fits a file (piece.CheckHashRange): a length from 1 to MaxHashCount and layers that a
// tree of 2^32 leaves could have.
func (r HashReq) Check() error {
	switch {
	case r.Length < 1 || r.Length > MaxHashCount:
		return fmt.Errorf("%w: hash request length %d", ErrBadPayload, r.Length)
	case r.BaseLayer >= MaxProofLayers || r.ProofLayers > MaxProofLayers:
		return fmt.Errorf("%w: hash request layers base %d proof %d", ErrBadPayload, r.BaseLayer, r.ProofLayers)
	}
	return nil
}

// UncleCount is the number of proof hashes that follow the base hashes in a hashes message
// answering r. The Length base hashes (padded to a power of two) hash up to their own
// subtree's root, ceil(log2 Length) layers above the base; the uncles are the siblings of
// that root and of its ancestors, up to ProofLayers above the base. This is how
// libtorrent 2.0 counts them when it reads a hashes message (for Length 1 that is
// ProofLayers+1).
func (r HashReq) UncleCount() int {
	return max(0, int(r.ProofLayers)-bits.Len32(r.Length-1)+1)
}

func appendHashReq(dst []byte, r HashReq) []byte {
	dst = append(dst, r.PiecesRoot[:]...)
	dst = binary.BigEndian.AppendUint32(dst, r.BaseLayer)
	dst = binary.BigEndian.AppendUint32(dst, r.Index)
	dst = binary.BigEndian.AppendUint32(dst, r.Length)
	return binary.BigEndian.AppendUint32(dst, r.ProofLayers)
}

func parseHashReq(b []byte) HashReq {
	return HashReq{
		PiecesRoot:  [32]byte(b[:32]),
		BaseLayer:   binary.BigEndian.Uint32(b[32:]),
		Index:       binary.BigEndian.Uint32(b[36:]),
		Length:      binary.BigEndian.Uint32(b[40:]),
		ProofLayers: binary.BigEndian.Uint32(b[44:]),
	}
}

// HashRequestMessage returns a hash request (typ HashRequest) or hash reject (HashReject)
// message for r.
func HashRequestMessage(typ MessageType, r HashReq) Message {
	return Message{Type: typ, Payload: appendHashReq(make([]byte, 0, hashHeadLen), r)}
}

// ParseHashRequest decodes the payload of a hash request or hash reject message (the
// bytes after the id) and checks it with HashReq.Check.
func ParseHashRequest(payload []byte) (HashReq, error) {
	if len(payload) != hashHeadLen {
		return HashReq{}, fmt.Errorf("%w: hash request of %d bytes", ErrBadLength, len(payload))
	}
	r := parseHashReq(payload)
	return r, r.Check()
}

// HashesMessage returns a hashes message answering r with the base hashes and then the
// uncle hashes, lowest layer first.
func HashesMessage(r HashReq, hashes [][32]byte) Message {
	p := appendHashReq(make([]byte, 0, hashHeadLen+32*len(hashes)), r)
	for _, h := range hashes {
		p = append(p, h[:]...)
	}
	return Message{Type: Hashes, Payload: p}
}

// ParseHashes decodes the payload of a hashes message: the request it answers, then exactly
// r.Length base hashes and r.UncleCount() uncle hashes. The hashes are copied.
func ParseHashes(payload []byte) (HashReq, [][32]byte, error) {
	if len(payload) < hashHeadLen {
		return HashReq{}, nil, fmt.Errorf("%w: hashes message of %d bytes", ErrBadLength, len(payload))
	}
	r := parseHashReq(payload)
	if err := r.Check(); err != nil {
		return r, nil, err
	}
	rest := payload[hashHeadLen:]
	want := int(r.Length) + r.UncleCount()
	if len(rest) != 32*want {
		return r, nil, fmt.Errorf("%w: hashes message has %d bytes of hashes, want %d", ErrBadLength, len(rest), 32*want)
	}
	hs := make([][32]byte, want)
	for i := range hs {
		hs[i] = [32]byte(rest[32*i:])
	}
	return r, hs, nil
}
