package channel

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// PublicKeySize is the length of a compressed secp256k1 public key.
const PublicKeySize = 33

// SignatureSize is the length of a signature: r and s, 32 bytes each, big-endian.
const SignatureSize = 64

// Errors returned by signature and key checks. Callers branch on them with errors.Is.
var (
	ErrBadPublicKey = errors.New("channel: invalid public key")
	ErrBadSignature = errors.New("channel: signature does not verify")
	// ErrHighS is a signature whose s is above half the group order: the malleated twin
	// of a valid signature. Accepting it would give one message two valid signatures.
	ErrHighS = errors.New("channel: non-canonical (high-S) signature")
)

// PrivateKey is a secp256k1 signing key.
type PrivateKey struct {
	k   *btcec.PrivateKey
	pub PublicKey // cached: deriving it is a scalar multiplication
}

func newKey(k *btcec.PrivateKey) *PrivateKey {
	p := &PrivateKey{k: k}
	copy(p.pub[:], k.PubKey().SerializeCompressed())
	return p
}

// GenerateKey returns a new random key from crypto/rand.
func GenerateKey() (*PrivateKey, error) {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, fmt.Errorf("channel: generate key: %w", err)
	}
	return newKey(k), nil
}

// NewPrivateKey returns the key with the 32-byte big-endian scalar b. It fails when b is
// not 32 bytes or is zero or not below the group order.
func NewPrivateKey(b []byte) (*PrivateKey, error) {
	if len(b) != 32 {
		return nil, fmt.Errorf("channel: private key is %d bytes, want 32", len(b))
	}
	var s btcec.ModNScalar
	if overflow := s.SetByteSlice(b); overflow || s.IsZero() {
		return nil, errors.New("channel: private key out of range")
	}
	return newKey(btcec.PrivKeyFromScalar(&s)), nil
}

// Bytes returns the 32-byte scalar. Keep it secret.
func (k *PrivateKey) Bytes() []byte { return k.k.Serialize() }

// Public returns the compressed public key.
func (k *PrivateKey) Public() PublicKey { return k.pub }

// Address returns the TRON-style address of the key.
func (k *PrivateKey) Address() Address { return k.Public().Address() }

// Sign signs a 32-byte digest with RFC 6979 deterministic nonces. The result is always
// canonical (low-S).
func (k *PrivateKey) Sign(digest [32]byte) Signature {
	// SignCompact is the one signer that exposes r and s as bytes: <recovery><r><s>.
	b := ecdsa.SignCompact(k.k, digest[:], true)
	var out Signature
	copy(out[:], b[1:])
	return out
}

// PublicKey is a compressed (33-byte) secp256k1 public key. It is comparable and can be a
// map key. ParsePublicKey guarantees it is a point on the curve; a compressed key read as
// text (JSON) is only checked for form, because proving that its x has a square root costs
// a fifth of a signature verification and servers decode keys on every request: Verify,
// Address and KeyCache reject a key that is not on the curve.
type PublicKey [PublicKeySize]byte

// ParsePublicKey accepts a compressed (33 bytes) or uncompressed (65 bytes) key and
// returns it compressed.
func ParsePublicKey(b []byte) (PublicKey, error) {
	var p PublicKey
	if len(b) != 33 && len(b) != 65 {
		return p, fmt.Errorf("%w: %d bytes", ErrBadPublicKey, len(b))
	}
	k, err := btcec.ParsePubKey(b)
	if err != nil {
		return p, fmt.Errorf("%w: %v", ErrBadPublicKey, err)
	}
	copy(p[:], k.SerializeCompressed())
	return p, nil
}

// ParsePublicKeyHex parses the hex form written by PublicKey.String.
func ParsePublicKeyHex(s string) (PublicKey, error) {
	if len(s) != 2*PublicKeySize && len(s) != 130 {
		return PublicKey{}, fmt.Errorf("%w: hex length %d", ErrBadPublicKey, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrBadPublicKey, err)
	}
	return ParsePublicKey(b)
}

// String returns the key in lower-case hex.
func (p PublicKey) String() string { return hex.EncodeToString(p[:]) }

// MarshalText implements encoding.TextMarshaler (hex). The zero PublicKey (no key) is
// written as "", so that it reads back as the zero PublicKey.
func (p PublicKey) MarshalText() ([]byte, error) {
	if p == (PublicKey{}) {
		return []byte{}, nil
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler: hex of a compressed key (checked for
// form: prefix 02 or 03, x below the field prime) or of an uncompressed key (checked to be
// on the curve, then compressed); "" is the zero PublicKey, which no signature verifies
// against.
func (p *PublicKey) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*p = PublicKey{}
		return nil
	}
	if len(b) == 2*PublicKeySize {
		var k PublicKey
		if _, err := hex.Decode(k[:], b); err != nil {
			return fmt.Errorf("%w: %v", ErrBadPublicKey, err)
		}
		var x btcec.FieldVal
		if (k[0] != 2 && k[0] != 3) || x.SetByteSlice(k[1:]) {
			return fmt.Errorf("%w: not a compressed key", ErrBadPublicKey)
		}
		*p = k
		return nil
	}
	k, err := ParsePublicKeyHex(string(b))
	if err != nil {
		return err
	}
	*p = k
	return nil
}

// Address returns the TRON-style address of the key.
func (p PublicKey) Address() Address {
	k, err := btcec.ParsePubKey(p[:])
	if err != nil {
		// A PublicKey that did not come from ParsePublicKey or a PrivateKey; it owns no address.
		return Address{}
	}
	return addressFromUncompressed(k.SerializeUncompressed())
}

// Verify checks sig over digest. It returns ErrHighS for a malleated signature and
// ErrBadSignature when the signature is malformed or made by another key.
func (p PublicKey) Verify(digest [32]byte, sig Signature) error {
	k, err := btcec.ParsePubKey(p[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadPublicKey, err)
	}
	r, s, err := parseScalars(sig)
	if err != nil {
		return err
	}
	if !ecdsa.NewSignature(&r, &s).Verify(digest[:], k) {
		return ErrBadSignature
	}
	return nil
}

// Signature is r||s, 32 bytes each, big-endian, with s in the lower half of the group order.
type Signature [SignatureSize]byte

// Bytes returns a copy of the 64 bytes.
func (s Signature) Bytes() []byte { return append([]byte(nil), s[:]...) }

// String returns the signature in lower-case hex.
func (s Signature) String() string { return hex.EncodeToString(s[:]) }

// MarshalText implements encoding.TextMarshaler (hex).
func (s Signature) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex, exactly 64 bytes). It does not
// check the signature; Verify does.
func (s *Signature) UnmarshalText(b []byte) error {
	if len(b) != 2*SignatureSize {
		return fmt.Errorf("%w: hex length %d, want %d", ErrBadSignature, len(b), 2*SignatureSize)
	}
	if _, err := hex.Decode(s[:], b); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return nil
}

// Malleate returns the high-S twin of a signature (s -> n - s), which plain ECDSA would
// also accept. It exists so tests (here and in other packages) can prove the twin is refused.
func (s Signature) Malleate() Signature {
	var sc btcec.ModNScalar
	sc.SetByteSlice(s[32:])
	sc.Negate()
	out := s
	sc.PutBytesUnchecked(out[32:])
	return out
}
