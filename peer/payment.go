package peer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/wire"
)

// Payment timing (docs/bep-speed.md, section 8.1).
const (
	// minChannelLife: a channel must have this long to run when first used, so the provider
	// can settle before it expires.
	minChannelLife = time.Hour
	// channelLife is how long the channels we open run.
	channelLife = 2 * time.Hour
	// ledgerTimeout bounds one ledger request made on behalf of a connection.
	ledgerTimeout = 15 * time.Second
	// settleBefore: a provider settles a channel this long before it expires, or the ledger
	// refunds everything to the requester (docs/bep-speed.md, 7.1).
	settleBefore = 10 * time.Minute
)

// payerSide is what a requester keeps per provider connection: the terms it was given, the
// bytes it received under them, and the channel it pays on.
type payerSide struct {
	terms      bool                       // unchoked after a bid_response and not choked since
	key        channel.PublicKey          // the provider's payment key
	ledger     string                     // the provider's ledger
	billable   map[uint32][]billableBytes // piece -> bytes received under each paid price
	meter      bidext.Meter               // what we owe the provider in total
	payer      *channel.Payer             // the open channel; nil until opened
	expiry     time.Time                  // when payer's channel expires
	paidBefore uint64                     // paid on channels used up before this one
	opening    bool                       // a channel open is in flight at the ledger
	withdrawn  bool                       // we cannot pay this provider: bid 0 sent, no more bids
	moves      int                        // new channels opened because the provider refused one
	unacked    []sentVoucher              // vouchers sent and not yet acknowledged, oldest first
	acked      uint64                     // total the provider acknowledged
}

// sentVoucher is a voucher in flight: the total it brings the provider to.
type sentVoucher struct {
	channel channel.ChannelID
	seq     uint64
	total   uint64
}

// maxUnacked bounds the vouchers a requester tracks in flight to one provider: one per
// piece of the exposure bound is far fewer; beyond it the oldest is forgotten (its ack,
// cumulative, is covered by any later one).
const maxUnacked = 1024

// billableBytes are bytes of one piece moved under one price. A piece's blocks can come
// under two prices (the provider re-priced us between them), and the provider bills each
// block at its own price, so each price is kept apart. A price changes only with a choke and
// a bid-response between two blocks, so a piece has at most one entry per block.
type billableBytes struct {
	price, bytes uint64
}

// addBillable counts n bytes at price in a piece's entries.
func addBillable(bs []billableBytes, price, n uint64) []billableBytes {
	if k := len(bs); k > 0 && bs[k-1].price == price {
		bs[k-1].bytes += n
		return bs
	}
	return append(bs, billableBytes{price: price, bytes: n})
}

// meterPiece adds a verified piece's billable bytes to what we owe c's provider.
func (t *torrent) meterPiece(c *conn, bs []billableBytes) error {
	for _, b := range bs {
		if _, err := c.ls.sp.pr.meter.Add(b.price, b.bytes); err != nil {
			t.s.log.Error("speed: meter", "err", err)
			return err
		}
	}
	return nil
}

// wallet is the session's payment key, nil when payments are off.
func (s *Session) wallet() *channel.PrivateKey { return s.speed.Wallet }

// ledgerClient returns the client for a ledger URL.
func (s *Session) ledgerClient(url string) *ledger.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ledgers == nil {
		s.ledgers = map[string]*ledger.Client{}
	}
	c := s.ledgers[url]
	if c == nil {
		c = ledger.NewClient(url, s.speed.LedgerHTTP)
		s.ledgers[url] = c
	}
	return c
}

// --- requester ---

// onBidResponse records a provider's terms: blocks from now until its next choke are
// billable at m.Price. A channel towards its key is opened if none is and we want pieces.
func (t *torrent) onBidResponse(c *conn, m wire.SpeedMessage) {
	ps := &c.ls.sp.pr
	key, err := channel.ParsePublicKey(m.Key[:])
	if err != nil || (ps.key != (channel.PublicKey{}) && ps.key != key) {
		return // an unusable or changed key: no paid terms with this provider
	}
	if !t.s.trusted(m.Ledger) {
		// A ledger we were not configured with: signed requests to any URL, and a deposit
		// locked wherever the provider says. Refuse, and say so to it with a withdrawn bid.
		t.withdrawFrom(c, fmt.Sprintf("provider names ledger %q, not one of ours (--ledger)", m.Ledger))
		return
	}
	ps.terms, ps.key, ps.ledger = true, key, m.Ledger
	// Only fund a channel for pieces we still want from this provider: a deposit made for
	// nothing stays locked until the channel expires. Becoming interested later sends a
	// bid, and its response comes back here.
	// At price 0 nothing is billable: no deposit (it would sit locked until expiry).
	if t.s.wallet() != nil && m.Price > 0 && ps.payer == nil && !ps.opening && !ps.withdrawn && c.ls.amInterested {
		t.openChannel(c)
	}
}

// openChannel funds a channel towards the provider on its ledger, off the loop. The deposit
// is the price times the data this torrent still wants (plus what we owe the provider
// already), within the budget and the balance read just before the open. If it cannot be
// funded after a few tries, the bid to this provider is withdrawn (cannot pay).
func (t *torrent) openChannel(c *conn) {
	ps := &c.ls.sp.pr
	if ps.withdrawn {
		return
	}
	remaining := uint64(max(t.layout.TotalLength-t.stats.bytesDone.Load(), 0))
	want, err := bidext.Owed(c.ls.sp.quoted, remaining)
	if err != nil {
		want = bidext.MaxPrice
	}
	var owed uint64
	if ps.payer != nil {
		owed = ps.meter.Total() - min(ps.meter.Total(), ps.paidBefore+ps.payer.Paid())
	} else {
		owed = ps.meter.Total() - min(ps.meter.Total(), ps.paidBefore)
	}
	want = max(want+owed+1, 1)
	ps.opening = true
	cl := t.s.ledgerClient(ps.ledger)
	key := ps.key
	t.s.wg.Add(1)
	go func() {
		defer t.s.wg.Done()
		ctx, cancel := context.WithTimeout(t.s.ctx, 4*ledgerTimeout)
		defer cancel()
		payer, ch, err := t.s.fundChannel(ctx, cl, key, want)
		t.do(func() {
			ps.opening = false
			defer t.closeIfBothSeeds(c) // it stayed open for this open
			if err != nil {
				t.withdrawFrom(c, err.Error())
				return
			}
			if t.conns[c.key] != c {
				t.s.retire(payer) // gone; the ledger refunds the deposit at expiry
				return
			}
			if ps.payer != nil {
				ps.paidBefore += ps.payer.Paid()
				t.s.retire(ps.payer)
			}
			ps.payer = payer
			ps.expiry = time.Unix(int64(ch.Expiry), 0)
			t.stats.channelsOpened.Add(1)
			t.s.log.Info("speed: channel opened", "provider", c, "deposit", uint64(ch.Amount), "channel", payer.Channel())
			t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedChannelOpen, Channel: payer.Channel()})
			t.payUp(c, 0)
		})
	}()
}

// payerChoked ends the terms a provider gave us: blocks after its choke are free until its
// next bid_response.
func (t *torrent) payerChoked(c *conn) { c.ls.sp.pr.terms = false }

// billReceived counts a block received from c under paid terms. It is paid when its piece
// verifies; a block of a piece already verified (a late endgame duplicate) is paid at once:
// the provider billed it when it sent it, and leaving it unpaid would be a strike against us.
func (t *torrent) billReceived(c *conn, piece, n uint32) {
	ps := &c.ls.sp.pr
	if !t.speedOn() || !ps.terms || t.s.wallet() == nil {
		return
	}
	if ps.billable == nil {
		ps.billable = map[uint32][]billableBytes{}
	}
	bs := addBillable(ps.billable[piece], c.ls.sp.quoted, uint64(n))
	ps.billable[piece] = bs
	if int(piece) < t.layout.NumPieces && t.picker.Have().Has(int(piece)) {
		delete(ps.billable, piece)
		if t.meterPiece(c, bs) != nil {
			return
		}
		t.payUp(c, piece)
	}
}

// payForPiece pays every provider that sent billable blocks of a piece that verified.
func (t *torrent) payForPiece(piece uint32) {
	for _, c := range t.conns {
		ps := &c.ls.sp.pr
		bs, ok := ps.billable[piece]
		if !ok {
			continue
		}
		delete(ps.billable, piece)
		if t.meterPiece(c, bs) != nil {
			continue
		}
		t.payUp(c, piece)
	}
}

// forgetPiece drops the billable bytes of a piece that failed its hash check: it is never paid.
func (t *torrent) forgetPiece(piece uint32) {
	for _, c := range t.conns {
		delete(c.ls.sp.pr.billable, piece)
	}
}

// payUp sends a voucher bringing what c's provider has been promised up to the meter.
func (t *torrent) payUp(c *conn, piece uint32) {
	ps := &c.ls.sp.pr
	if ps.payer == nil || ps.withdrawn {
		return // sent once the channel is open; never once we withdrew
	}
	if time.Until(ps.expiry) < minChannelLife {
		// The provider refuses a channel with less than an hour to run: move to a new one.
		if !ps.opening {
			t.openChannel(c)
		}
		return
	}
	owed := ps.meter.Total() - ps.paidBefore
	due := owed - ps.payer.Paid()
	if owed <= ps.payer.Paid() {
		due = 0
	}
	// A channel's first voucher goes out at once, of 0 if nothing is owed yet: only the
	// payee can close a channel, and only on a voucher, so a channel never paid on would stay
	// locked until it expires (docs/speed-payments.md, rule 13).
	if due == 0 && ps.payer.Sequence() > 0 {
		return
	}
	v, err := ps.payer.Pay(due, piece)
	if errors.Is(err, channel.ErrOverDeposit) {
		if !ps.opening {
			t.openChannel(c) // used up: continue on a new channel
		}
		return
	}
	if err != nil {
		t.s.log.Error("speed: signing voucher", "err", err)
		return
	}
	m := wire.SpeedMessage{Type: wire.SpeedVoucher, Sig: v.Sig}
	layout, _ := v.Voucher.AppendBinary(nil)
	copy(m.Voucher[:], layout)
	t.sendSpeed(c, m)
	t.s.spend.mu.Lock()
	t.s.spend.signed += due
	t.s.spend.mu.Unlock()
	if len(ps.unacked) >= maxUnacked {
		ps.unacked = ps.unacked[1:]
	}
	ps.unacked = append(ps.unacked, sentVoucher{channel: v.Channel, seq: v.Sequence, total: ps.paidBefore + ps.payer.Paid()})
	t.stats.promised.Add(int64(due))
	t.stats.vouchersSent.Add(1)
	t.s.log.Info("speed: voucher", "provider", c, "piece", piece, "seq", v.Sequence, "cumulative", v.Cumulative)
}

// onPaymentAck counts what a provider acknowledged. Vouchers are cumulative, so an ack of the
// latest one covers every earlier one too.
func (t *torrent) onPaymentAck(c *conn, m wire.SpeedMessage) {
	ps := &c.ls.sp.pr
	t.stats.paymentAcks.Add(1)
	for i, v := range ps.unacked {
		if v.channel != channel.ChannelID(m.Channel) || v.seq != m.Seq {
			continue
		}
		if v.total > ps.acked {
			t.stats.spent.Add(int64(v.total - ps.acked))
			ps.acked = v.total
		}
		ps.unacked = ps.unacked[i+1:]
		break
	}
	t.closeIfBothSeeds(c)
}

// maxChannelMoves bounds the new channels a requester opens for one provider connection
// because the provider refused one (reasons 4, 7, 8); then it withdraws its bid.
const maxChannelMoves = 2

// onPaymentReject acts on a refused voucher or channel (docs/bep-speed.md 7.7): a refused
// channel (unknown or in use, over its deposit, being settled) is replaced by a new one, at
// most twice; anything else means our state and the provider's disagree, so we withdraw our
// bid to it (cannot pay) rather than keep receiving billable data we cannot get accepted.
func (t *torrent) onPaymentReject(c *conn, m wire.SpeedMessage) {
	ps := &c.ls.sp.pr
	t.s.log.Warn("speed: provider refused our payment", "provider", c, "reason", m.Reason, "seq", m.Seq)
	ps.unacked = nil // never acknowledged now: nothing holds the connection open
	switch m.Reason {
	case wire.SpeedRejectChannel, wire.SpeedRejectDeposit, wire.SpeedRejectExpired:
		if ps.payer == nil || channel.ChannelID(m.Channel) != ps.payer.Channel() || ps.opening {
			return // about a channel we already left
		}
		if ps.moves++; ps.moves > maxChannelMoves {
			t.withdrawFrom(c, fmt.Sprintf("provider refused %d channels", ps.moves))
			return
		}
		// What the provider acknowledged stays paid; the rest is paid again on the new channel.
		t.s.retire(ps.payer)
		ps.paidBefore, ps.payer = ps.acked, nil
		t.openChannel(c)
	default:
		t.withdrawFrom(c, fmt.Sprintf("provider refused a voucher (reason %d)", m.Reason))
	}
}

// speedKeepOpen reports whether a connection between two seeds must stay open for a
// payment. As requester: vouchers not yet acknowledged, or a channel open in flight (its
// deposit would stay locked until expiry without the connection to name it on). As
// provider: a peer that bid to us closes the connection itself, once its payments are done
// (the last voucher follows the last HAVE, so closing on that HAVE would lose it).
func (t *torrent) speedKeepOpen(c *conn) bool {
	if !t.speedOn() {
		return false
	}
	ps := &c.ls.sp.pr
	return len(ps.unacked) > 0 || ps.opening || t.payeeOwes(c) || (t.billing(c) && c.ls.sp.bid > 0)
}

// closeIfBothSeeds closes a connection between two seeds once no payment holds it, after
// what we queued for it (our bitfield, so that it knows we are a seed too).
func (t *torrent) closeIfBothSeeds(c *conn) {
	if t.picker.Complete() && c.ls.seed && !t.speedKeepOpen(c) {
		c.closeAfterSend(errBothSeeds)
	}
}
