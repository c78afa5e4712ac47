package wire

// The Speed extension's messages (docs/bep-speed.md). They travel as BEP 10 extended
// messages under the name SpeedExtName; each payload is one bencoded dictionary whose
// msg_type says which message it is, with integers and fixed-size byte strings only.
//
// This file depends on nothing else in package wire, so the codec stands alone.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/speedbt/btt/wire/bencode"
)

// Advertisement in the BEP 10 extended handshake: the extension name in the m dict, and
// a top-level integer key with the protocol version the peer speaks.
const (
	SpeedExtName    = "bt_speed"
	SpeedVersionKey = "bt_speed_v"
	SpeedVersion    = 1
)

// Sizes of the fixed-length fields.
const (
	SpeedKeySize     = 33 // compressed secp256k1 public key
	SpeedSaltSize    = 16
	SpeedProofSize   = 32 // SHA-256
	SpeedChannelSize = 32 // channel id: SHA-256 of the channel-open layout
	SpeedVoucherSize = 68 // channel voucher layout (channel.VoucherSize)
	SpeedSigSize     = 64 // r || s, low-S (channel.SignatureSize)

	// SpeedMaxLedgerLen bounds the ledger URL of a bid-response.
	SpeedMaxLedgerLen = 256
	// SpeedMaxPayload bounds a Speed payload; the largest valid one is under 400 bytes.
	// Larger input is refused before any decoding.
	SpeedMaxPayload = 1024
	// SpeedMaxPrice is the largest price: bencode integers are signed 64-bit.
	SpeedMaxPrice = math.MaxInt64
)

// SpeedMsgType is the msg_type of a Speed message.
type SpeedMsgType uint8

// Speed message types.
const (
	SpeedBid           SpeedMsgType = 0 // requester -> provider: the price it offers
	SpeedBidResponse   SpeedMsgType = 1 // provider -> winner: the price it pays, where to pay
	SpeedReservePrice  SpeedMsgType = 2 // provider -> peer: reserve price and challenge
	SpeedSourceProof   SpeedMsgType = 3 // peer -> provider: answer to the challenge
	SpeedChannelOpen   SpeedMsgType = 4 // requester -> provider: channel to be paid from
	SpeedVoucher       SpeedMsgType = 5 // requester -> provider: signed cumulative payment
	SpeedPaymentAck    SpeedMsgType = 6 // provider -> requester: voucher accepted
	SpeedPaymentReject SpeedMsgType = 7 // provider -> requester: voucher refused
)

var speedTypeNames = [...]string{"bid", "bid_response", "reserve_price", "source_proof",
	"channel_open", "voucher", "payment_ack", "payment_reject"}

func (t SpeedMsgType) String() string {
	if int(t) < len(speedTypeNames) {
		return speedTypeNames[t]
	}
	return fmt.Sprintf("speed msg_type %d", int(t))
}

// SpeedRejectReason says why a provider refused a voucher.
type SpeedRejectReason uint8

// Reject reasons. A receiver treats a code it does not know like SpeedRejectOther.
const (
	SpeedRejectOther        SpeedRejectReason = 1 // none of the below
	SpeedRejectMalformed    SpeedRejectReason = 2 // voucher layout unreadable
	SpeedRejectSignature    SpeedRejectReason = 3 // bad or high-S signature, wrong key
	SpeedRejectChannel      SpeedRejectReason = 4 // channel unknown, closed, or not ours on the ledger
	SpeedRejectSequence     SpeedRejectReason = 5 // sequence not above the last accepted
	SpeedRejectInsufficient SpeedRejectReason = 6 // cumulative amount below what is owed
	SpeedRejectDeposit      SpeedRejectReason = 7 // cumulative amount above the channel's deposit
	SpeedRejectExpired      SpeedRejectReason = 8 // channel expires too soon to be closed safely
)

// SpeedMessage is one Speed message. Which fields are meaningful depends on Type:
//
//	bid             Price
//	bid_response    Price, Key, Ledger
//	reserve_price   Price, Piece, Chunk, Salt
//	source_proof    Piece, Chunk, Salt, Proof
//	channel_open    Channel
//	voucher         Voucher, Sig
//	payment_ack     Channel, Seq
//	payment_reject  Channel, Seq, Reason
//
// Prices are base units (1 BTT = 1,000,000) per GiB of piece data (package bidext).
type SpeedMessage struct {
	Type    SpeedMsgType
	Price   uint64
	Key     [SpeedKeySize]byte
	Ledger  string
	Piece   uint32
	Chunk   uint32
	Salt    [SpeedSaltSize]byte
	Proof   [SpeedProofSize]byte
	Channel [SpeedChannelSize]byte
	Voucher [SpeedVoucherSize]byte
	Sig     [SpeedSigSize]byte
	Seq     uint64
	Reason  SpeedRejectReason
}

// Errors of ParseSpeedMessage and AppendSpeedMessage, wrapped in a *SpeedError.
var (
	// ErrSpeedMalformed: the payload is not one bencoded dictionary, or is too large.
	ErrSpeedMalformed = errors.New("wire: speed: malformed payload")
	// ErrSpeedUnknownType: msg_type names no message this version knows. BEP 10 peers
	// ignore such a message rather than disconnect.
	ErrSpeedUnknownType = errors.New("wire: speed: unknown msg_type")
	// ErrSpeedMissingKey: a key the message type requires is absent.
	ErrSpeedMissingKey = errors.New("wire: speed: missing key")
	// ErrSpeedBadValue: a value has the wrong type, size or range.
	ErrSpeedBadValue = errors.New("wire: speed: bad value")
)

// SpeedError describes a Speed payload that was refused.
type SpeedError struct {
	Type  int64  // msg_type as read, -1 when it could not be read
	Key   string // the offending key, "" for the whole payload
	Err   error  // one of the ErrSpeed sentinels
	Cause error  // the underlying error (a bencode error), if any
}

func (e *SpeedError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	switch {
	case e.Type >= 0 && e.Type < int64(len(speedTypeNames)):
		fmt.Fprintf(&b, " (%v)", SpeedMsgType(e.Type))
	case e.Type >= 0:
		fmt.Fprintf(&b, " (msg_type %d)", e.Type)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As both the sentinel and the cause.
func (e *SpeedError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// Dictionary keys.
const (
	skMsgType = "msg_type"
	skPrice   = "price"
	skKey     = "key"
	skLedger  = "ledger"
	skPiece   = "piece"
	skChunk   = "chunk"
	skSalt    = "salt"
	skProof   = "proof"
	skChannel = "channel"
	skVoucher = "voucher"
	skSig     = "sig"
	skSeq     = "seq"
	skReason  = "reason"
)

// ParseSpeedMessage decodes a Speed payload (the bytes after the extended message id).
//
// It is strict about what it uses: every key the type requires must be present with the
// right bencode type, integers in range, byte strings of their exact size. Keys it does
// not use are ignored, so that later versions can add some. Every error is a *SpeedError.
func ParseSpeedMessage(payload []byte) (SpeedMessage, error) {
	var m SpeedMessage
	if len(payload) > SpeedMaxPayload {
		return m, &SpeedError{Type: -1, Err: ErrSpeedMalformed,
			Cause: fmt.Errorf("%d bytes, limit %d", len(payload), SpeedMaxPayload)}
	}
	if len(payload) == 0 || payload[0] != 'd' {
		return m, &SpeedError{Type: -1, Err: ErrSpeedMalformed, Cause: errors.New("not a dictionary")}
	}
	// Validate the whole value first (canonical integers, lengths, no trailing bytes), so
	// the scan below only slices well-formed input.
	if err := bencode.Valid(payload); err != nil {
		return m, &SpeedError{Type: -1, Err: ErrSpeedMalformed, Cause: err}
	}
	p := speedParser{typ: -1}
	if err := p.scan(payload); err != nil {
		return m, &SpeedError{Type: -1, Err: ErrSpeedMalformed, Cause: err}
	}
	t := p.int(skMsgType, 0, math.MaxInt64)
	if p.err != nil {
		return m, p.err
	}
	p.typ = t
	if t >= int64(len(speedTypeNames)) {
		return m, &SpeedError{Type: t, Err: ErrSpeedUnknownType}
	}
	m.Type = SpeedMsgType(t)
	switch m.Type {
	case SpeedBid:
		m.Price = uint64(p.int(skPrice, 0, SpeedMaxPrice))
	case SpeedBidResponse:
		m.Price = uint64(p.int(skPrice, 0, SpeedMaxPrice))
		p.fixed(skKey, m.Key[:])
		m.Ledger = p.ledger()
		if p.err == nil && m.Key[0] != 2 && m.Key[0] != 3 {
			p.fail(skKey, ErrSpeedBadValue, errors.New("not a compressed public key (prefix 02 or 03)"))
		}
	case SpeedReservePrice:
		m.Price = uint64(p.int(skPrice, 0, SpeedMaxPrice))
		m.Piece = uint32(p.int(skPiece, 0, math.MaxUint32))
		m.Chunk = uint32(p.int(skChunk, 0, math.MaxUint32))
		p.fixed(skSalt, m.Salt[:])
	case SpeedSourceProof:
		m.Piece = uint32(p.int(skPiece, 0, math.MaxUint32))
		m.Chunk = uint32(p.int(skChunk, 0, math.MaxUint32))
		p.fixed(skSalt, m.Salt[:])
		p.fixed(skProof, m.Proof[:])
	case SpeedChannelOpen:
		p.fixed(skChannel, m.Channel[:])
	case SpeedVoucher:
		p.fixed(skVoucher, m.Voucher[:])
		p.fixed(skSig, m.Sig[:])
	case SpeedPaymentAck:
		p.fixed(skChannel, m.Channel[:])
		m.Seq = uint64(p.int(skSeq, 1, math.MaxInt64))
	case SpeedPaymentReject:
		p.fixed(skChannel, m.Channel[:])
		m.Seq = uint64(p.int(skSeq, 0, math.MaxInt64))
		m.Reason = SpeedRejectReason(p.int(skReason, 1, 255))
	}
	if p.err != nil {
		return SpeedMessage{}, p.err
	}
	return m, nil
}

// speedKeys are the keys this version reads; a scan keeps each one's encoded value.
var speedKeys = [...]string{skMsgType, skPrice, skKey, skLedger, skPiece, skChunk, skSalt, skProof,
	skChannel, skVoucher, skSig, skSeq, skReason}

// speedParser reads typed values from one dictionary and keeps the first error.
type speedParser struct {
	vals [len(speedKeys)][]byte // encoded value of each known key, nil when absent
	typ  int64
	err  *SpeedError
}

// scan walks the (already validated) dictionary once: it checks that keys are strictly
// increasing, as BEP 3 requires (a repeated key would let two decoders read different
// values from one message), and keeps the value of every known key.
func (p *speedParser) scan(dict []byte) error {
	var prev []byte
	for pos := 1; dict[pos] != 'e'; {
		n, err := bencode.Next(dict[pos:])
		if err != nil {
			return err
		}
		if dict[pos] < '0' || dict[pos] > '9' {
			return errors.New("dictionary key is not a string")
		}
		key := dict[pos : pos+n]
		key = key[bytes.IndexByte(key, ':')+1:]
		if prev != nil && bytes.Compare(key, prev) <= 0 {
			return fmt.Errorf("key %q after %q: keys must be sorted and unique", key, prev)
		}
		prev = key
		pos += n
		if n, err = bencode.Next(dict[pos:]); err != nil {
			return err
		}
		for i, k := range speedKeys {
			if string(key) == k {
				p.vals[i] = dict[pos : pos+n]
				break
			}
		}
		pos += n
	}
	return nil
}

func (p *speedParser) fail(key string, sentinel, cause error) {
	if p.err == nil {
		p.err = &SpeedError{Type: p.typ, Key: key, Err: sentinel, Cause: cause}
	}
}

func (p *speedParser) raw(key string, kind byte) ([]byte, bool) {
	if p.err != nil {
		return nil, false
	}
	var v []byte
	for i, k := range speedKeys {
		if k == key {
			v = p.vals[i]
		}
	}
	if v == nil {
		p.fail(key, ErrSpeedMissingKey, nil)
		return nil, false
	}
	isInt := v[0] == 'i'
	isStr := v[0] >= '0' && v[0] <= '9'
	if (kind == 'i' && !isInt) || (kind == 's' && !isStr) {
		want := "integer"
		if kind == 's' {
			want = "byte string"
		}
		p.fail(key, ErrSpeedBadValue, fmt.Errorf("want a %s", want))
		return nil, false
	}
	return v, true
}

// int reads an integer in [lo, hi]. The value was validated as canonical bencode, so
// only the range can be wrong (ParseInt refuses what does not fit in 64 bits).
func (p *speedParser) int(key string, lo, hi int64) int64 {
	v, ok := p.raw(key, 'i')
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(string(v[1:len(v)-1]), 10, 64)
	if err != nil {
		p.fail(key, ErrSpeedBadValue, err)
		return 0
	}
	if n < lo || n > hi {
		p.fail(key, ErrSpeedBadValue, fmt.Errorf("%d out of range [%d, %d]", n, lo, hi))
		return 0
	}
	return n
}

// bytes reads a byte string; the result aliases the payload.
func (p *speedParser) bytes(key string) []byte {
	v, ok := p.raw(key, 's')
	if !ok {
		return nil
	}
	return v[bytes.IndexByte(v, ':')+1:]
}

func (p *speedParser) fixed(key string, dst []byte) {
	b := p.bytes(key)
	if p.err != nil {
		return
	}
	if len(b) != len(dst) {
		p.fail(key, ErrSpeedBadValue, fmt.Errorf("%d bytes, want %d", len(b), len(dst)))
		return
	}
	copy(dst, b)
}

func (p *speedParser) ledger() string {
	b := p.bytes(skLedger)
	if p.err != nil {
		return ""
	}
	if err := checkLedger(string(b)); err != nil {
		p.fail(skLedger, ErrSpeedBadValue, err)
		return ""
	}
	return string(b)
}

// checkLedger accepts 1..SpeedMaxLedgerLen bytes of printable ASCII without spaces, so
// a URL can be shown and logged without escaping.
func checkLedger(s string) error {
	if len(s) == 0 || len(s) > SpeedMaxLedgerLen {
		return fmt.Errorf("ledger URL of %d bytes, want 1..%d", len(s), SpeedMaxLedgerLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("ledger URL byte %#x at %d is not printable ASCII", s[i], i)
		}
	}
	return nil
}

// AppendSpeedMessage appends the bencoded payload of m to dst (keys in sorted order, as
// BEP 3 requires, so equal messages have equal bytes). It refuses, with a *SpeedError, a
// message that ParseSpeedMessage would refuse.
func AppendSpeedMessage(dst []byte, m SpeedMessage) ([]byte, error) {
	bad := func(key string, cause error) ([]byte, error) {
		return dst, &SpeedError{Type: int64(m.Type), Key: key, Err: ErrSpeedBadValue, Cause: cause}
	}
	if m.Price > SpeedMaxPrice {
		return bad(skPrice, fmt.Errorf("%d above %d", m.Price, uint64(SpeedMaxPrice)))
	}
	if m.Seq > math.MaxInt64 {
		return bad(skSeq, fmt.Errorf("%d above %d", m.Seq, uint64(math.MaxInt64)))
	}
	price, seq := int64(m.Price), int64(m.Seq)
	typ := int64(m.Type)
	b := append(dst, 'd')
	switch m.Type {
	case SpeedBid:
		b = speedInt(b, skMsgType, typ)
		b = speedInt(b, skPrice, price)
	case SpeedBidResponse:
		if m.Key[0] != 2 && m.Key[0] != 3 {
			return bad(skKey, errors.New("not a compressed public key (prefix 02 or 03)"))
		}
		if err := checkLedger(m.Ledger); err != nil {
			return bad(skLedger, err)
		}
		b = speedBytes(b, skKey, m.Key[:])
		b = bencode.AppendString(bencode.AppendString(b, skLedger), m.Ledger)
		b = speedInt(b, skMsgType, typ)
		b = speedInt(b, skPrice, price)
	case SpeedReservePrice:
		b = speedInt(b, skChunk, int64(m.Chunk))
		b = speedInt(b, skMsgType, typ)
		b = speedInt(b, skPiece, int64(m.Piece))
		b = speedInt(b, skPrice, price)
		b = speedBytes(b, skSalt, m.Salt[:])
	case SpeedSourceProof:
		b = speedInt(b, skChunk, int64(m.Chunk))
		b = speedInt(b, skMsgType, typ)
		b = speedInt(b, skPiece, int64(m.Piece))
		b = speedBytes(b, skProof, m.Proof[:])
		b = speedBytes(b, skSalt, m.Salt[:])
	case SpeedChannelOpen:
		b = speedBytes(b, skChannel, m.Channel[:])
		b = speedInt(b, skMsgType, typ)
	case SpeedVoucher:
		b = speedInt(b, skMsgType, typ)
		b = speedBytes(b, skSig, m.Sig[:])
		b = speedBytes(b, skVoucher, m.Voucher[:])
	case SpeedPaymentAck:
		if m.Seq == 0 {
			return bad(skSeq, errors.New("acknowledged sequence 0"))
		}
		b = speedBytes(b, skChannel, m.Channel[:])
		b = speedInt(b, skMsgType, typ)
		b = speedInt(b, skSeq, seq)
	case SpeedPaymentReject:
		if m.Reason == 0 {
			return bad(skReason, errors.New("reason 0"))
		}
		b = speedBytes(b, skChannel, m.Channel[:])
		b = speedInt(b, skMsgType, typ)
		b = speedInt(b, skReason, int64(m.Reason))
		b = speedInt(b, skSeq, seq)
	default:
		return dst, &SpeedError{Type: typ, Err: ErrSpeedUnknownType}
	}
	return append(b, 'e'), nil
}

func speedInt(b []byte, key string, v int64) []byte {
	return bencode.AppendInt(bencode.AppendString(b, key), v)
}

func speedBytes(b []byte, key string, v []byte) []byte {
	return bencode.AppendBytes(bencode.AppendString(b, key), v)
}

// SpeedAdvertised reports whether a peer's extended handshake advertises Speed: its m
// dict maps SpeedExtName to a non-zero id (the id to send Speed messages under) and its
// SpeedVersionKey is an integer >= 1. extra is the handshake's other keys with their
// encoded values (ExtendedHandshake.Extra).
func SpeedAdvertised(m map[string]int, extra map[string]bencode.RawMessage) (id, version int, ok bool) {
	id = m[SpeedExtName]
	if id <= 0 || id > 255 {
		return 0, 0, false
	}
	v, found := extra[SpeedVersionKey]
	if !found || len(v) == 0 || v[0] != 'i' {
		return 0, 0, false
	}
	var n int64
	if bencode.Unmarshal(v, &n) != nil || n < 1 || n > math.MaxInt32 {
		return 0, 0, false
	}
	return id, int(n), true
}

// SpeedVersionValue is the encoded value to put under SpeedVersionKey in our extended
// handshake's extra keys.
func SpeedVersionValue() bencode.RawMessage { return bencode.AppendInt(nil, SpeedVersion) }
