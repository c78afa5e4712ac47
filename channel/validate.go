package channel

import (
	"errors"
	"fmt"
	"time"
)

// Voucher rule violations. Validate wraps them with detail; test with errors.Is.
var (
	ErrWrongChannel    = errors.New("channel: voucher is for another channel")
	ErrStaleSequence   = errors.New("channel: voucher sequence not above the last accepted (replay)")
	ErrAmountDecreased = errors.New("channel: cumulative amount decreased")
	ErrOverDeposit     = errors.New("channel: cumulative amount above the deposit")
	ErrExpired         = errors.New("channel: channel expired")
	ErrClosed          = errors.New("channel: channel closed")
	// ErrNotPayee is a close signed by the payer (or anyone but the payee).
	ErrNotPayee = errors.New("channel: close not signed by the payee")
)

// State is what a verifier knows about a channel: the terms from the ledger and the last
// voucher it accepted (Sequence 0 and Cumulative 0 before the first).
type State struct {
	ID         ChannelID
	Payer      PublicKey
	Payee      PublicKey
	Deposit    uint64
	Expiry     uint64 // Unix seconds; the channel is unusable from this second on
	Sequence   uint64
	Cumulative uint64
	Closed     bool
}

// Validate checks a signed voucher against the channel state at time now: right channel,
// open and unexpired, sequence strictly above the last accepted one, cumulative amount not
// below the last accepted one and not above the deposit, and a canonical signature by the
// payer. It does not change st; Accept does.
func Validate(st State, v SignedVoucher, now time.Time) error {
	if err := CheckVoucher(st, v.Voucher, now); err != nil {
		return err
	}
	if err := st.Payer.Verify(v.Digest(), v.Sig); err != nil {
		return fmt.Errorf("voucher seq %d: %w", v.Sequence, err)
	}
	return nil
}

// ValidateCached is Validate with the signature checked through kc: about half the cost,
// and a fifth once the payer's key has its table (a provider keeps one KeyCache for all its
// requesters).
func ValidateCached(kc *KeyCache, st State, v SignedVoucher, now time.Time) error {
	if err := CheckVoucher(st, v.Voucher, now); err != nil {
		return err
	}
	if err := kc.Verify(st.Payer, v.Digest(), v.Sig); err != nil {
		return fmt.Errorf("voucher seq %d: %w", v.Sequence, err)
	}
	return nil
}

// CheckVoucher applies every rule of Validate except the signature check, for callers that
// verified the signature elsewhere (the ledger verifies in parallel before its single writer).
func CheckVoucher(st State, v Voucher, now time.Time) error {
	switch {
	case v.Channel != st.ID:
		return fmt.Errorf("%w: got %s, want %s", ErrWrongChannel, v.Channel, st.ID)
	case st.Closed:
		return ErrClosed
	case unix(now) >= st.Expiry:
		return fmt.Errorf("%w at %d (now %d)", ErrExpired, st.Expiry, unix(now))
	case v.Sequence <= st.Sequence:
		return fmt.Errorf("%w: got %d, last %d", ErrStaleSequence, v.Sequence, st.Sequence)
	case v.Cumulative < st.Cumulative:
		return fmt.Errorf("%w: got %d, last %d", ErrAmountDecreased, v.Cumulative, st.Cumulative)
	case v.Cumulative > st.Deposit:
		return fmt.Errorf("%w: got %d, deposit %d", ErrOverDeposit, v.Cumulative, st.Deposit)
	}
	return nil
}

// Accept validates v and, when it is valid, advances st to it. It returns the amount the
// voucher adds to what was owed before.
func (st *State) Accept(v SignedVoucher, now time.Time) (added uint64, err error) {
	return st.AcceptCached(nil, v, now)
}

// AcceptCached is Accept with the signature checked through kc (Validate when kc is nil).
func (st *State) AcceptCached(kc *KeyCache, v SignedVoucher, now time.Time) (added uint64, err error) {
	if kc == nil {
		err = Validate(*st, v, now)
	} else {
		err = ValidateCached(kc, *st, v, now)
	}
	if err != nil {
		return 0, err
	}
	added = v.Cumulative - st.Cumulative // cannot underflow: Validate checked the order
	st.Sequence, st.Cumulative = v.Sequence, v.Cumulative
	return added, nil
}

// ValidateClose checks a close request against the channel state: the voucher must pass
// Validate, and the close must be counter-signed by the payee.
func ValidateClose(st State, c Close, now time.Time) error {
	if err := Validate(st, c.Voucher, now); err != nil {
		return err
	}
	return VerifyCloseSig(st, c)
}

// VerifyCloseSig checks only the payee's counter-signature. A close signed by the payer is
// reported as ErrNotPayee, so the payer cannot settle its own channel at a price it picks.
func VerifyCloseSig(st State, c Close) error {
	d := CloseDigest(&c.Voucher.Voucher)
	err := st.Payee.Verify(d, c.PayeeSig)
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrBadSignature) && st.Payer.Verify(d, c.PayeeSig) == nil {
		return ErrNotPayee
	}
	return fmt.Errorf("close: %w", err)
}

func unix(t time.Time) uint64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint64(s)
}
