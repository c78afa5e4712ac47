package mse

import (
	"crypto/sha1"
	"io"
	"math/big"
)

// KeyLen is the length of a public key and of the shared secret on the wire: 768 bits.
const KeyLen = 96

// privLen is the length of a private exponent. The specification asks for at least 128 bits;
// 160 is what libtorrent and Transmission use.
const privLen = 20

// prime is P, the 768-bit prime of the specification; G is 2. It shares its first 704 bits
// with the Oakley group 1 prime but is not that prime: its tail is ...A63A36210000000000090563.
var prime = func() *big.Int {
	p, ok := new(big.Int).SetString("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"+
		"29024E088A67CC74020BBEA63B139B22514A08798E3404DD"+
		"EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245"+
		"E485B576625E7EC6F44C42E9A63A36210000000000090563", 16)
	if !ok {
		panic("mse: bad prime")
	}
	return p
}()

// keyPair is one side's Diffie-Hellman key pair.
type keyPair struct {
	priv *big.Int
	pub  [KeyLen]byte
}

func newKeyPair(rand io.Reader) (keyPair, error) {
	var b [privLen]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return keyPair{}, err
	}
	kp := keyPair{priv: new(big.Int).SetBytes(b[:])}
	new(big.Int).Exp(big.NewInt(2), kp.priv, prime).FillBytes(kp.pub[:])
	return kp, nil
}

// secret computes S from the peer's public key. A key of 0, 1 or P-1 (or not below P) would
// make S predictable; such a peer is refused.
func (kp keyPair) secret(peer []byte) ([KeyLen]byte, error) {
	var s [KeyLen]byte
	y := new(big.Int).SetBytes(peer)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(new(big.Int).Sub(prime, big.NewInt(1))) >= 0 {
		return s, ErrBadKey
	}
	new(big.Int).Exp(y, kp.priv, prime).FillBytes(s[:])
	return s, nil
}

// hash is SHA-1 over the concatenation of its parts, the specification's HASH().
func hash(parts ...[]byte) [20]byte {
	h := sha1.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out [20]byte
	h.Sum(out[:0])
	return out
}

// Req2 is HASH('req2', SKEY): what a responder looks a torrent up by (after removing the
// req3 mask). Callers precompute it per torrent for their SKEY lookup.
func Req2(skey [20]byte) [20]byte { return hash([]byte("req2"), skey[:]) }
