package channel

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
)

// parseScalars splits sig into r and s and checks them as both verification paths
// (PublicKey.Verify through btcec, KeyCache.Verify through internal/comb) require: each in
// [1, n-1], s in the lower half (ErrHighS). One parser, so the two paths cannot come to
// disagree about which signatures are well-formed.
func parseScalars(sig Signature) (r, s btcec.ModNScalar, err error) {
	if overflow := r.SetByteSlice(sig[:32]); overflow || r.IsZero() {
		return r, s, fmt.Errorf("%w: r out of range", ErrBadSignature)
	}
	if overflow := s.SetByteSlice(sig[32:]); overflow || s.IsZero() {
		return r, s, fmt.Errorf("%w: s out of range", ErrBadSignature)
	}
	if s.IsOverHalfOrder() {
		return r, s, ErrHighS
	}
	return r, s, nil
}
