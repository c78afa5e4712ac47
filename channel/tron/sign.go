package tron

import (
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/speedbt/btt/channel"
)

// SignatureSize is the length of a TRON transaction signature: r (32) || s (32) || v (1).
const SignatureSize = 65

// Signature is r || s || v, v = 27 + the recovery id, as tronweb writes it and java-tron
// reads it (java-tron also accepts v = 0 or 1).
type Signature [SignatureSize]byte

// ErrBadSignature is a signature that does not recover to the transaction's owner.
var ErrBadSignature = errors.New("tron: bad transaction signature")

// Sign signs a transaction id with RFC 6979 deterministic nonces and low S, which is what
// tronweb (noble-secp256k1) does, so both produce the same bytes.
func Sign(k *channel.PrivateKey, txid [32]byte) Signature {
	priv, _ := btcec.PrivKeyFromBytes(k.Bytes())
	// SignCompact writes v || r || s with v = 27 + recovery id (uncompressed key form).
	c := ecdsa.SignCompact(priv, txid[:], false)
	var s Signature
	copy(s[:64], c[1:])
	s[64] = c[0]
	return s
}

// Recover returns the address whose key made sig over txid.
func Recover(txid [32]byte, sig []byte) (channel.Address, error) {
	if len(sig) != SignatureSize {
		return channel.Address{}, fmt.Errorf("%w: %d bytes", ErrBadSignature, len(sig))
	}
	v := sig[64]
	if v < 27 {
		v += 27
	}
	if v != 27 && v != 28 {
		return channel.Address{}, fmt.Errorf("%w: v = %d", ErrBadSignature, sig[64])
	}
	c := make([]byte, 65)
	c[0] = v
	copy(c[1:], sig[:64])
	pub, _, err := ecdsa.RecoverCompact(c, txid[:])
	if err != nil {
		return channel.Address{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	p, err := channel.ParsePublicKey(pub.SerializeCompressed())
	if err != nil {
		return channel.Address{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return p.Address(), nil
}

// SignedTx is a transaction ready to broadcast: its raw_data bytes and one signature.
type SignedTx struct {
	Raw []byte
	Sig Signature
}

// ID returns the transaction id.
func (t *SignedTx) ID() [32]byte { return TxID(t.Raw) }

// NewSignedTx encodes r and signs it with k.
func NewSignedTx(r *Raw, k *channel.PrivateKey) SignedTx {
	raw := r.Marshal()
	return SignedTx{Raw: raw, Sig: Sign(k, TxID(raw))}
}

// Verify decodes the transaction and checks that it is signed by its owner.
func (t *SignedTx) Verify() (*Raw, error) {
	r, err := ParseRaw(t.Raw)
	if err != nil {
		return nil, err
	}
	a, err := Recover(t.ID(), t.Sig[:])
	if err != nil {
		return nil, err
	}
	if a != r.Transfer.Owner {
		return nil, fmt.Errorf("%w: signed by %s, owner is %s", ErrBadSignature, a, r.Transfer.Owner)
	}
	return r, nil
}
