package channel

import "fmt"

// Payer is the requester's side of one channel: it signs the voucher for each verified
// piece, keeping the sequence and cumulative amount that the provider's State expects.
// It is not safe for concurrent use; the torrent's loop owns it.
type Payer struct {
	key        *PrivateKey
	id         ChannelID
	deposit    uint64
	sequence   uint64
	cumulative uint64
}

// NewPayer starts paying on the channel opened by o, signed by key (o.Payer's key).
func NewPayer(key *PrivateKey, o *Open) (*Payer, error) {
	if key.Public() != o.Payer {
		return nil, fmt.Errorf("%w: key is not the channel's payer", ErrBadSignature)
	}
	return &Payer{key: key, id: o.ID(), deposit: o.Amount}, nil
}

// Channel returns the channel id.
func (p *Payer) Channel() ChannelID { return p.id }

// Sequence returns the sequence of the last voucher signed (0: none yet).
func (p *Payer) Sequence() uint64 { return p.sequence }

// Paid returns the cumulative amount promised so far.
func (p *Payer) Paid() uint64 { return p.cumulative }

// Remaining returns what is left of the deposit.
func (p *Payer) Remaining() uint64 { return p.deposit - p.cumulative }

// Pay signs a voucher adding amount for piece. When the deposit cannot cover it, it
// returns ErrOverDeposit and changes nothing: the requester opens a new channel.
func (p *Payer) Pay(amount uint64, piece uint32) (SignedVoucher, error) {
	if amount > p.Remaining() {
		return SignedVoucher{}, fmt.Errorf("%w: %d left, %d asked", ErrOverDeposit, p.Remaining(), amount)
	}
	p.sequence++
	p.cumulative += amount
	return SignVoucher(p.key, Voucher{Channel: p.id, Sequence: p.sequence, Cumulative: p.cumulative, Piece: piece}), nil
}
