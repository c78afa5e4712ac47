package channel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Domain tags open every signed layout. Each is exactly 16 bytes and unique across all
// Speed messages (the ledger's request tags in channel/ledger start "speedbt.l"), so a
// digest of one message type can never equal a digest of another.
const (
	TagOpen    = "speedbt.open.v1\x00"
	TagVoucher = "speedbt.vouch.v1"
	TagClose   = "speedbt.close.v1"
)

// Sizes of the fixed layouts.
const (
	OpenSize    = 16 + 32 + 2*PublicKeySize + 8 + 8 + 8 // 138
	VoucherSize = 16 + 32 + 8 + 8 + 4                   // 68
	CloseSize   = 16 + 32 + 32                          // 80
)

// LedgerID names one ledger. Every open message carries it, so a channel (and every voucher
// bound to it) belongs to one ledger and cannot be replayed on another.
type LedgerID [32]byte

// ChannelID is SHA-256 of the open message layout: it commits to the ledger, both keys,
// the deposit, the nonce and the expiry.
type ChannelID [32]byte

func (id LedgerID) String() string  { return hex.EncodeToString(id[:]) }
func (id ChannelID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText implements encoding.TextMarshaler (hex).
func (id LedgerID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// MarshalText implements encoding.TextMarshaler (hex).
func (id ChannelID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (64 hex digits).
func (id *LedgerID) UnmarshalText(b []byte) error {
	return decodeHex32((*[32]byte)(id), b, "ledger id")
}

// UnmarshalText implements encoding.TextUnmarshaler (64 hex digits).
func (id *ChannelID) UnmarshalText(b []byte) error {
	return decodeHex32((*[32]byte)(id), b, "channel id")
}

// ParseChannelID parses 64 hex digits.
func ParseChannelID(s string) (ChannelID, error) {
	var id ChannelID
	err := id.UnmarshalText([]byte(s))
	return id, err
}

func decodeHex32(dst *[32]byte, b []byte, what string) error {
	if len(b) != 64 {
		return fmt.Errorf("channel: %s: hex length %d, want 64", what, len(b))
	}
	if _, err := hex.Decode(dst[:], b); err != nil {
		return fmt.Errorf("channel: %s: %w", what, err)
	}
	return nil
}

// Open is the payer's request to lock Amount base units into a channel towards Payee until
// Expiry (Unix seconds). Layout, big-endian, 138 bytes:
//
//	tag "speedbt.open.v1\0" (16) | ledger (32) | payer (33) | payee (33) |
//	amount (8) | nonce (8) | expiry (8)
type Open struct {
	Ledger LedgerID
	Payer  PublicKey
	Payee  PublicKey
	Amount uint64
	Nonce  uint64
	Expiry uint64
}

// AppendBinary appends the fixed layout to b.
func (o *Open) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, TagOpen...)
	b = append(b, o.Ledger[:]...)
	b = append(b, o.Payer[:]...)
	b = append(b, o.Payee[:]...)
	b = binary.BigEndian.AppendUint64(b, o.Amount)
	b = binary.BigEndian.AppendUint64(b, o.Nonce)
	b = binary.BigEndian.AppendUint64(b, o.Expiry)
	return b, nil
}

// Digest is SHA-256 of the layout; the payer signs it and it is the channel id.
func (o *Open) Digest() [32]byte {
	var buf [OpenSize]byte
	b, _ := o.AppendBinary(buf[:0])
	return sha256.Sum256(b)
}

// ID returns the channel id this open message creates.
func (o *Open) ID() ChannelID { return ChannelID(o.Digest()) }

// Sign signs the open message with the payer's key.
func (o *Open) Sign(k *PrivateKey) Signature { return k.Sign(o.Digest()) }

// Verify checks the payer's signature.
func (o *Open) Verify(sig Signature) error { return o.Payer.Verify(o.Digest(), sig) }

// Voucher is the payer's promise that Cumulative base units of the channel now belong to
// the payee, sent after piece Piece verified. Layout, big-endian, 68 bytes:
//
//	tag "speedbt.vouch.v1" (16) | channel (32) | sequence (8) | cumulative (8) | piece (4)
type Voucher struct {
	Channel    ChannelID
	Sequence   uint64
	Cumulative uint64
	Piece      uint32
}

// AppendBinary appends the fixed layout to b.
func (v *Voucher) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, TagVoucher...)
	b = append(b, v.Channel[:]...)
	b = binary.BigEndian.AppendUint64(b, v.Sequence)
	b = binary.BigEndian.AppendUint64(b, v.Cumulative)
	b = binary.BigEndian.AppendUint32(b, v.Piece)
	return b, nil
}

// Digest is SHA-256 of the layout, the value the payer signs.
func (v *Voucher) Digest() [32]byte {
	var buf [VoucherSize]byte
	b, _ := v.AppendBinary(buf[:0])
	return sha256.Sum256(b)
}

// SignedVoucher is a voucher with the payer's signature.
type SignedVoucher struct {
	Voucher
	Sig Signature
}

// SignVoucher signs v with the payer's key.
func SignVoucher(k *PrivateKey, v Voucher) SignedVoucher {
	return SignedVoucher{Voucher: v, Sig: k.Sign(v.Digest())}
}

// CloseDigest is what the payee signs to close a channel on the last voucher it holds.
// Layout, 80 bytes: tag "speedbt.close.v1" (16) | channel (32) | voucher digest (32).
func CloseDigest(v *Voucher) [32]byte {
	var buf [CloseSize]byte
	b := append(buf[:0], TagClose...)
	b = append(b, v.Channel[:]...)
	d := v.Digest()
	b = append(b, d[:]...)
	return sha256.Sum256(b)
}

// Close is a payee's request to settle a channel on a voucher: the payer's voucher and the
// payee's counter-signature over it.
type Close struct {
	Voucher  SignedVoucher
	PayeeSig Signature
}

// SignClose counter-signs a voucher with the payee's key.
func SignClose(payee *PrivateKey, v SignedVoucher) Close {
	return Close{Voucher: v, PayeeSig: payee.Sign(CloseDigest(&v.Voucher))}
}

// ErrLayout means a fixed layout has the wrong size or tag.
var ErrLayout = errors.New("channel: malformed message layout")

// ParseVoucher decodes the 68-byte voucher layout (as carried in a Speed voucher message).
func ParseVoucher(b []byte) (Voucher, error) {
	if len(b) != VoucherSize || string(b[:len(TagVoucher)]) != TagVoucher {
		return Voucher{}, fmt.Errorf("%w: voucher of %d bytes", ErrLayout, len(b))
	}
	b = b[len(TagVoucher):]
	var v Voucher
	copy(v.Channel[:], b[:32])
	v.Sequence = binary.BigEndian.Uint64(b[32:])
	v.Cumulative = binary.BigEndian.Uint64(b[40:])
	v.Piece = binary.BigEndian.Uint32(b[48:])
	return v, nil
}
