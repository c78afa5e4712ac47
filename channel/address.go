package channel

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/sha3"
)

// AddressSize is the length of a raw address: the 0x41 prefix and 20 hash bytes.
const AddressSize = 21

// AddressPrefix is TRON's main-net address prefix byte.
const AddressPrefix = 0x41

// ErrBadAddress is returned for a malformed or mistyped address.
var ErrBadAddress = errors.New("channel: invalid address")

// Address is a TRON-style account address: 0x41 followed by the last 20 bytes of the
// Keccak-256 hash of the uncompressed public key (without its 0x04 prefix). Its text form
// is base58check (4-byte double-SHA-256 checksum) and starts with 'T'.
type Address [AddressSize]byte

func addressFromUncompressed(uncompressed []byte) Address {
	h := sha3.NewLegacyKeccak256()
	h.Write(uncompressed[1:])
	sum := h.Sum(nil)
	var a Address
	a[0] = AddressPrefix
	copy(a[1:], sum[12:])
	return a
}

// IsZero reports whether a is the zero value (no address).
func (a Address) IsZero() bool { return a == Address{} }

// String returns the base58check form.
func (a Address) String() string {
	var buf [AddressSize + 4]byte
	copy(buf[:], a[:])
	c := checksum(a[:])
	copy(buf[AddressSize:], c[:])
	return base58Encode(buf[:])
}

// MarshalText implements encoding.TextMarshaler (base58check). The zero Address (no
// address) is written as "", so that it reads back as the zero Address.
func (a Address) MarshalText() ([]byte, error) {
	if a.IsZero() {
		return []byte{}, nil
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (base58check; "" is the zero Address).
func (a *Address) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*a = Address{}
		return nil
	}
	x, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = x
	return nil
}

// ParseAddress parses the base58check form of an address and checks its prefix and checksum.
func ParseAddress(s string) (Address, error) {
	var a Address
	// 25 bytes are at most 35 base58 digits; refuse longer input before any big-number work.
	if len(s) == 0 || len(s) > 35 {
		return a, fmt.Errorf("%w: length %d", ErrBadAddress, len(s))
	}
	raw, err := base58Decode(s)
	if err != nil {
		return a, err
	}
	if len(raw) != AddressSize+4 {
		return a, fmt.Errorf("%w: %d bytes decoded, want %d", ErrBadAddress, len(raw), AddressSize+4)
	}
	if c := checksum(raw[:AddressSize]); string(c[:]) != string(raw[AddressSize:]) {
		return a, fmt.Errorf("%w: checksum mismatch", ErrBadAddress)
	}
	if raw[0] != AddressPrefix {
		return a, fmt.Errorf("%w: prefix 0x%02x, want 0x41", ErrBadAddress, raw[0])
	}
	copy(a[:], raw)
	return a, nil
}

func checksum(b []byte) [4]byte {
	h1 := sha256.Sum256(b)
	h2 := sha256.Sum256(h1[:])
	return [4]byte(h2[:4])
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Encode writes b in base 58, a leading '1' per leading zero byte. Schoolbook
// conversion on a digit array: quadratic, but on 25 bytes it is a few hundred small
// divisions, cheaper than big.Int and free of allocations but the result.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.37: digits needed for the non-zero part.
	digits := make([]byte, (len(b)-zeros)*137/100+1) // little-endian base-58 digits
	n := 0
	for _, v := range b[zeros:] {
		carry := int(v)
		for i := 0; i < n; i++ {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits[n] = byte(carry % 58)
			carry /= 58
			n++
		}
	}
	out := make([]byte, zeros+n)
	for i := range zeros {
		out[i] = '1'
	}
	for i := range n {
		out[zeros+i] = base58Alphabet[digits[n-1-i]]
	}
	return string(out)
}

// base58Decode reverses base58Encode. Callers bound len(s).
func base58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// log(58)/log(256) < 0.74: bytes needed for the rest.
	bytes := make([]byte, (len(s)-zeros)*74/100+1) // little-endian base-256
	n := 0
	for i := zeros; i < len(s); i++ {
		d := strings.IndexByte(base58Alphabet, s[i])
		if d < 0 {
			return nil, fmt.Errorf("%w: character %q is not base58", ErrBadAddress, s[i])
		}
		carry := d
		for j := 0; j < n; j++ {
			carry += int(bytes[j]) * 58
			bytes[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			bytes[n] = byte(carry)
			carry >>= 8
			n++
		}
	}
	out := make([]byte, zeros+n)
	for i := range n {
		out[zeros+i] = bytes[n-1-i]
	}
	return out, nil
}
