package peer

import (
	"context"
	"errors"
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
	terms      bool                     // unchoked after a bid_response and not choked since
	key        channel.PublicKey        // the provider's payment key
	ledger     string                   // the provider's ledger
	billable   map[uint32]billableBytes // piece -> bytes received under paid terms
	meter      bidext.Meter             // what we owe the provider in total
	payer      *channel.Payer           // the open channel; nil until opened
	expiry     time.Time                // when payer's channel expires
	paidBefore uint64                   // paid on channels used up before this one
	opening    bool                     // a channel open is in flight at the ledger
	lastSeq    uint64                   // sequence of the last voucher sent on payer
	lastAmount uint64                   // what that voucher added
	acked      uint64                   // added by vouchers the provider acknowledged
}

// billableBytes are bytes of one piece moved under one price.
type billableBytes struct {
	price, bytes uint64
}

// payeeSide is what a provider keeps per requester connection.
type payeeSide struct {
	billable     map[uint32]billableBytes // piece -> bytes sent under paid terms, not yet metered
	sentBillable uint64                   // bytes sent under paid terms
	meter        bidext.Meter             // what the requester owes (billed on its HAVEs)
	metered      uint64                   // bytes moved to the meter
	paidBytes    uint64                   // metered bytes covered by accepted vouchers
	state        *channel.State           // the channel, as the ledger confirmed it
	fetching     bool
	pending      *channel.SignedVoucher // a voucher that came before the ledger answered
	last         *channel.SignedVoucher // the last accepted voucher on state
	accepted     uint64                 // accepted on channels before this one
	deadline     time.Time              // a voucher covering the meter is due by then
	held         []wire.Message         // requests held by the exposure rule
	defaulted    bool                   // missed a payment and still owes: no slot of any kind
}

func (p *payeeSide) paid() uint64 {
	if p.state == nil {
		return p.accepted
	}
	return p.accepted + p.state.Cumulative
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
		c = ledger.NewClient(url, nil)
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
	ps.terms, ps.key, ps.ledger = true, key, m.Ledger
	// Only fund a channel for pieces we still want from this provider: a deposit made for
	// nothing stays locked until the channel expires. Becoming interested later sends a
	// bid, and its response comes back here.
	if t.s.wallet() != nil && ps.payer == nil && !ps.opening && c.ls.amInterested {
		t.openChannel(c)
	}
}

// openChannel funds a channel towards the provider on its ledger, off the loop.
func (t *torrent) openChannel(c *conn) {
	ps := &c.ls.sp.pr
	wallet := t.s.wallet()
	owedAll, _ := bidext.Owed(c.ls.sp.quoted, uint64(t.layout.TotalLength))
	deposit := max(owedAll+1, 1)
	if t.s.speed.Balance != nil {
		deposit = min(deposit, max(t.s.speed.Balance(), 1))
	}
	ps.opening = true
	cl := t.s.ledgerClient(ps.ledger)
	key := ps.key
	t.s.wg.Add(1)
	go func() {
		defer t.s.wg.Done()
		ctx, cancel := context.WithTimeout(t.s.ctx, ledgerTimeout)
		defer cancel()
		var payer *channel.Payer
		id, err := cl.LedgerID(ctx)
		var ch ledger.Channel
		if err == nil {
			ch, err = cl.OpenChannel(ctx, wallet, key, deposit, time.Now().Add(channelLife))
		}
		if err == nil {
			o := channel.Open{Ledger: id, Payer: wallet.Public(), Payee: key, Amount: uint64(ch.Amount), Nonce: uint64(ch.Nonce), Expiry: uint64(ch.Expiry)}
			payer, err = channel.NewPayer(wallet, &o)
		}
		t.do(func() {
			ps.opening = false
			if err != nil {
				t.s.log.Warn("speed: opening a channel failed", "provider", c, "err", err)
				return
			}
			if t.conns[c.key] != c {
				return // gone; the ledger refunds the deposit at expiry
			}
			if ps.payer != nil {
				ps.paidBefore += ps.payer.Paid()
			}
			ps.payer = payer
			ps.expiry = time.Unix(int64(ch.Expiry), 0)
			t.stats.channelsOpened.Add(1)
			t.s.log.Info("speed: channel opened", "provider", c, "deposit", deposit, "channel", payer.Channel())
			t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedChannelOpen, Channel: payer.Channel()})
			t.payUp(c, 0)
		})
	}()
}

// billReceived counts a block received from c under paid terms.
func (t *torrent) billReceived(c *conn, piece, n uint32) {
	ps := &c.ls.sp.pr
	if !ps.terms || t.s.wallet() == nil {
		return
	}
	if ps.billable == nil {
		ps.billable = map[uint32]billableBytes{}
	}
	b := ps.billable[piece]
	b.price, b.bytes = c.ls.sp.quoted, b.bytes+uint64(n)
	ps.billable[piece] = b
}

// payForPiece pays every provider that sent billable blocks of a piece that verified.
func (t *torrent) payForPiece(piece uint32) {
	for _, c := range t.conns {
		ps := &c.ls.sp.pr
		b, ok := ps.billable[piece]
		if !ok {
			continue
		}
		delete(ps.billable, piece)
		if _, err := ps.meter.Add(b.price, b.bytes); err != nil {
			t.s.log.Error("speed: meter", "err", err)
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
	if ps.payer == nil {
		return // sent once the channel is open
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
	ps.lastSeq, ps.lastAmount = v.Sequence, due
	t.stats.promised.Add(int64(due))
	t.stats.vouchersSent.Add(1)
	t.s.log.Info("speed: voucher", "provider", c, "piece", piece, "seq", v.Sequence, "cumulative", v.Cumulative)
}

// onPaymentAck counts what a provider acknowledged. Vouchers are cumulative, so an ack of the
// latest one covers every earlier one too.
func (t *torrent) onPaymentAck(c *conn, m wire.SpeedMessage) {
	ps := &c.ls.sp.pr
	t.stats.paymentAcks.Add(1)
	if ps.payer == nil || channel.ChannelID(m.Channel) != ps.payer.Channel() || m.Seq != ps.lastSeq {
		return
	}
	total := ps.paidBefore + ps.payer.Paid()
	if total > ps.acked {
		t.stats.spent.Add(int64(total - ps.acked))
		ps.acked = total
	}
}

// --- provider ---

// billSent counts a block queued to c under paid terms, and reports whether the exposure
// rule holds it back: a requester never has more than one unpaid piece. Blocks of a piece
// already under way are always served, or a requester that asked for blocks of several
// pieces at once could complete none and never pay; a new piece waits while any billable
// piece is unpaid. At price 0 nothing is billable.
func (t *torrent) billSent(c *conn, m wire.Message) (hold bool) {
	pe := &c.ls.sp.pe
	if !c.ls.sp.paying || c.ls.sp.price == 0 || t.s.wallet() == nil {
		return false
	}
	if _, underWay := pe.billable[m.Index]; !underWay && (len(pe.billable) > 0 || pe.metered > pe.paidBytes) {
		if len(pe.held) < t.s.settings.MaxPeerRequests {
			pe.held = append(pe.held, m)
		}
		return true
	}
	if pe.billable == nil {
		pe.billable = map[uint32]billableBytes{}
	}
	b := pe.billable[m.Index]
	b.price, b.bytes = c.ls.sp.price, b.bytes+uint64(m.Length)
	pe.billable[m.Index] = b
	pe.sentBillable += uint64(m.Length)
	return false
}

// unbill takes back a billable block that was queued but dropped (we choked the peer).
func (t *torrent) unbill(c *conn, piece, n uint32) {
	pe := &c.ls.sp.pe
	b, ok := pe.billable[piece]
	if !ok {
		return
	}
	b.bytes -= min(b.bytes, uint64(n))
	pe.billable[piece] = b
	pe.sentBillable -= min(pe.sentBillable, uint64(n))
}

// billHave meters the billable bytes of a piece the requester announced it has.
func (t *torrent) billHave(c *conn, piece uint32) {
	pe := &c.ls.sp.pe
	b, ok := pe.billable[piece]
	if !ok {
		return
	}
	delete(pe.billable, piece)
	if b.bytes == 0 {
		return
	}
	if _, err := pe.meter.Add(b.price, b.bytes); err != nil {
		t.s.log.Error("speed: meter", "err", err)
		return
	}
	pe.metered += b.bytes
	if pe.meter.Total() > pe.paid() {
		if pe.deadline.IsZero() {
			pe.deadline = time.Now().Add(t.s.settings.PaymentTimeout)
		}
		return
	}
	t.paidUp(c) // rounding made it free
}

// paidUp marks everything metered as paid and serves what was held.
func (t *torrent) paidUp(c *conn) {
	pe := &c.ls.sp.pe
	pe.deadline = time.Time{}
	pe.paidBytes = pe.metered
	pe.defaulted = false
	t.releaseHeld(c)
}

// onChannelOpen fetches the channel from the ledger the first time it is named.
func (t *torrent) onChannelOpen(c *conn, m wire.SpeedMessage) {
	pe := &c.ls.sp.pe
	wallet := t.s.wallet()
	if wallet == nil || pe.fetching {
		return
	}
	id := channel.ChannelID(m.Channel)
	if pe.state != nil && pe.state.ID == id {
		return
	}
	pe.fetching = true
	cl := t.s.ledgerClient(t.s.speed.Ledger)
	t.s.wg.Add(1)
	go func() {
		defer t.s.wg.Done()
		ctx, cancel := context.WithTimeout(t.s.ctx, ledgerTimeout)
		defer cancel()
		st, err := cl.ChannelState(ctx, id, wallet.Public())
		if err == nil && time.Unix(int64(st.Expiry), 0).Before(time.Now().Add(minChannelLife)) {
			err = errors.New("channel expires too soon")
		}
		t.do(func() {
			pe.fetching = false
			if t.conns[c.key] != c {
				return
			}
			if err != nil {
				t.s.log.Warn("speed: channel refused", "requester", c, "channel", id, "err", err)
				t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedPaymentReject, Channel: m.Channel, Reason: wire.SpeedRejectChannel})
				t.paymentFailed(c, "channel refused")
				return
			}
			if pe.state != nil {
				// The old channel is used up: settle it and continue on the new one.
				t.settle(c, pe.state.Payer, pe.last)
				pe.accepted += pe.state.Cumulative
				pe.last = nil
			}
			pe.state = &st
			if v := pe.pending; v != nil && v.Channel == id {
				pe.pending = nil
				t.acceptVoucher(c, *v)
			}
		})
	}()
}

func (t *torrent) onVoucher(c *conn, m wire.SpeedMessage) {
	pe := &c.ls.sp.pe
	if t.s.wallet() == nil {
		return
	}
	v, err := channel.ParseVoucher(m.Voucher[:])
	if err != nil {
		t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedPaymentReject, Reason: wire.SpeedRejectMalformed})
		t.paymentFailed(c, "malformed voucher")
		return
	}
	sv := channel.SignedVoucher{Voucher: v, Sig: channel.Signature(m.Sig)}
	if pe.state == nil || pe.state.ID != v.Channel {
		if pe.fetching {
			pe.pending = &sv // the ledger has not answered yet
			return
		}
		t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedPaymentReject, Channel: v.Channel, Seq: v.Sequence, Reason: wire.SpeedRejectChannel})
		t.paymentFailed(c, "voucher on an unknown channel")
		return
	}
	t.acceptVoucher(c, sv)
}

// acceptVoucher validates a voucher against the channel and, if good, records it.
func (t *torrent) acceptVoucher(c *conn, sv channel.SignedVoucher) {
	pe := &c.ls.sp.pe
	added, err := pe.state.AcceptCached(t.s.payers, sv, time.Now())
	if err != nil {
		reason := wire.SpeedRejectOther
		switch {
		case errors.Is(err, channel.ErrBadSignature), errors.Is(err, channel.ErrHighS):
			reason = wire.SpeedRejectSignature
		case errors.Is(err, channel.ErrStaleSequence):
			reason = wire.SpeedRejectSequence
		case errors.Is(err, channel.ErrOverDeposit):
			reason = wire.SpeedRejectDeposit
		case errors.Is(err, channel.ErrExpired):
			reason = wire.SpeedRejectExpired
		}
		t.s.log.Warn("speed: voucher refused", "requester", c, "err", err)
		t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedPaymentReject, Channel: sv.Channel, Seq: sv.Sequence, Reason: reason})
		t.paymentFailed(c, "voucher refused")
		return
	}
	last := sv
	pe.last = &last
	t.stats.earned.Add(int64(added))
	t.stats.vouchersAccepted.Add(1)
	t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedPaymentAck, Channel: sv.Channel, Seq: sv.Sequence})
	if pe.paid() >= pe.meter.Total() {
		t.paidUp(c)
	}
}

// releaseHeld serves the requests the exposure rule held, now that payment came.
func (t *torrent) releaseHeld(c *conn) {
	held := c.ls.sp.pe.held
	c.ls.sp.pe.held = nil
	for _, m := range held {
		if err := t.onRequest(c, m); err != nil {
			c.close(err)
			return
		}
	}
}

// paymentFailed chokes a requester that did not pay; repeated failures ban it.
func (t *torrent) paymentFailed(c *conn, why string) {
	pe := &c.ls.sp.pe
	pe.deadline = time.Time{}
	if pe.meter.Total() > pe.paid() {
		pe.deadline = time.Now().Add(t.s.settings.PaymentTimeout) // still owed: another strike if it stays so
		pe.defaulted = true
	}
	pe.held = nil
	t.stats.paymentFailures.Add(1)
	if !c.ls.amChoking {
		t.chokePeer(c, time.Now())
	}
	a := c.addr.Addr().Unmap()
	st := t.payStrikes[a]
	if st == nil {
		st = &bidext.Strikes{}
		t.payStrikes[a] = st
	}
	t.s.log.Warn("speed: payment failure", "requester", c, "why", why)
	if st.Fail(time.Now()) {
		t.s.ban(a, "did not pay")
		t.stats.banned.Add(1)
		for _, o := range t.conns {
			if o.addr.Addr().Unmap() == a {
				o.close(errors.New("peer: banned for not paying"))
			}
		}
	}
}

// paymentTick chokes requesters whose payment is overdue, and settles channels about to
// expire (after which vouchers on them are refused: the requester moves to a new channel an
// hour before expiry, so an honest one never sends any).
func (t *torrent) paymentTick(now time.Time) {
	for _, c := range t.conns {
		pe := &c.ls.sp.pe
		if d := pe.deadline; !d.IsZero() && now.After(d) {
			t.paymentFailed(c, "payment timeout")
		}
		if st := pe.state; st != nil && now.Add(settleBefore).After(time.Unix(int64(st.Expiry), 0)) {
			t.settle(c, st.Payer, pe.last)
			pe.accepted += st.Cumulative
			pe.state, pe.last = nil, nil
		}
	}
}

// settle closes a channel on the ledger with the last voucher we accepted, off the loop. It
// runs even while the session shuts down: an unsettled channel pays us nothing.
func (t *torrent) settle(c *conn, payer channel.PublicKey, last *channel.SignedVoucher) {
	wallet := t.s.wallet()
	if wallet == nil || last == nil {
		return
	}
	v := *last
	cl := t.s.ledgerClient(t.s.speed.Ledger)
	t.s.wg.Add(1)
	go func() {
		defer t.s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), ledgerTimeout)
		defer cancel()
		ch, err := cl.CloseChannel(ctx, wallet, payer, v)
		if err != nil {
			t.s.log.Warn("speed: settling channel", "requester", c, "channel", v.Channel, "err", err)
			return
		}
		t.stats.settled.Add(int64(ch.Paid))
		t.s.log.Info("speed: channel settled", "requester", c, "channel", v.Channel, "paid", uint64(ch.Paid), "refunded", uint64(ch.Refunded))
	}()
}

// settleConn settles what a requester connection paid, when it goes away.
func (t *torrent) settleConn(c *conn) {
	pe := &c.ls.sp.pe
	if pe.state != nil && pe.last != nil {
		t.settle(c, pe.state.Payer, pe.last)
		pe.last = nil
	}
}
