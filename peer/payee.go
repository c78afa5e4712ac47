package peer

import (
	"context"
	"errors"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

// The provider's side of Speed payments. The accounting is bidext.Book, one per session,
// shared by every torrent (a requester's debt and channels span them); this file is only its
// I/O: one hook per event, each a no-op unless Speed and a wallet are on, each taking
// sessionPay.mu for the Book call alone (never across I/O). Threading: hooks run on the
// torrent loop that owns c; ledger calls and durable writes run in goroutines that come
// back through t.do.

// payeeSide is what a provider keeps per requester connection, owned by the loop; the money
// itself is in the session's Book under id.
type payeeSide struct {
	id       bidext.ConnID      // the connection's id in the Book; 0: not billed
	fetching bool               // a channel lookup is in flight at the ledger
	pending  *wire.SpeedMessage // a voucher that came before the ledger answered
	held     []wire.Message     // requests held by the exposure bound
}

// billing reports whether c is billed: we sell with a wallet and c speaks Speed.
func (t *torrent) billing(c *conn) bool {
	return t.speedOn() && t.s.wallet() != nil && c.ls.sp.pe.id != 0
}

// payeeConnect opens c's account in the Book once it is known to speak Speed.
func (t *torrent) payeeConnect(c *conn) {
	if !t.speedOn() || t.s.wallet() == nil || c.ls.sp.pe.id != 0 {
		return
	}
	p := t.s.pay
	c.ls.sp.pe.id = bidext.ConnID(p.nextID.Add(1))
	p.mu.Lock()
	p.book.Connect(c.ls.sp.pe.id, c.addr.Addr(), time.Now())
	p.mu.Unlock()
}

func (t *torrent) pieceRef(i uint32) bidext.PieceRef {
	return bidext.PieceRef{Torrent: t.infoHash, Index: i}
}

// payeeServe decides whether a request of a paying requester is served now (and bills it)
// or held by the exposure bound until the requester pays.
func (t *torrent) payeeServe(c *conn, m wire.Message) (hold bool) {
	if !t.billing(c) || !c.ls.sp.paying || c.ls.sp.price == 0 {
		return false
	}
	p := t.s.pay
	p.mu.Lock()
	ok := p.book.Serve(c.ls.sp.pe.id, t.pieceRef(m.Index), t.layout.PieceLength, t.layout.PieceSize(int(m.Index)), m.Length, c.ls.sp.price, time.Now())
	p.mu.Unlock()
	if ok {
		return false
	}
	pe := &c.ls.sp.pe
	if len(pe.held) < t.s.settings.MaxPeerRequests {
		pe.held = append(pe.held, m)
	}
	return true
}

// payeeUnserve takes back billed blocks that never went out (dropped by a choke or a cancel).
func (t *torrent) payeeUnserve(c *conn, b []wire.Message, price uint64) {
	if !t.billing(c) || price == 0 {
		return
	}
	p := t.s.pay
	p.mu.Lock()
	for _, m := range b {
		p.book.Unserve(c.ls.sp.pe.id, t.pieceRef(m.Index), m.Length, price)
	}
	p.mu.Unlock()
}

// payeeChoked ends c's paid terms as we choke it: the billed blocks dropped from its queue
// are taken back, and the requests the bound held are returned for rejection.
func (t *torrent) payeeChoked(c *conn, dropped []piece.Block) (held []wire.Message) {
	wasPaying, price := c.ls.sp.paying, c.ls.sp.price
	c.ls.sp.paying, c.ls.sp.price = false, 0
	held, c.ls.sp.pe.held = c.ls.sp.pe.held, nil
	if wasPaying && len(dropped) > 0 {
		unsent := make([]wire.Message, len(dropped))
		for i, b := range dropped {
			unsent[i] = wire.Message{Index: b.Piece, Begin: b.Begin, Length: b.Length}
		}
		t.payeeUnserve(c, unsent, price)
	}
	return held
}

// payeeCancelled takes back a billed block the requester cancelled before it went out.
func (t *torrent) payeeCancelled(c *conn, m wire.Message) {
	if c.ls.sp.paying {
		t.payeeUnserve(c, []wire.Message{m}, c.ls.sp.price)
	}
}

// payeeHave ends the reservation of a piece the requester announced.
func (t *torrent) payeeHave(c *conn, i uint32) {
	if !t.billing(c) {
		return
	}
	p := t.s.pay
	p.mu.Lock()
	p.book.Have(c.ls.sp.pe.id, t.pieceRef(i))
	p.mu.Unlock()
}

// payeeBid notes a requester's bid: 0 withdraws it ("cannot pay": choked, no strike).
func (t *torrent) payeeBid(c *conn, price uint64) {
	if !t.billing(c) {
		return
	}
	p := t.s.pay
	p.mu.Lock()
	if price == 0 {
		p.book.Withdraw(c.ls.sp.pe.id)
	} else {
		p.book.Bid(c.ls.sp.pe.id, time.Now())
	}
	p.mu.Unlock()
	if price == 0 && c.ls.sp.paying {
		t.chokePeer(c, time.Now())
		t.fillSlots()
	}
}

// payeeDisconnect closes c's account: leaving while owing is a strike (a ban at the limit),
// and the channel it used is settled.
func (t *torrent) payeeDisconnect(c *conn) {
	if !t.billing(c) {
		return
	}
	p := t.s.pay
	now := time.Now()
	p.mu.Lock()
	ch, strike, ban := p.book.Disconnect(c.ls.sp.pe.id, now)
	p.mu.Unlock()
	if strike {
		t.stats.paymentFailures.Add(1)
		t.s.log.Warn("speed: requester left owing", "requester", c)
	}
	if ban {
		t.banAndClose(c.addr.Addr(), "did not pay")
	}
	if ch != (channel.ChannelID{}) {
		t.s.settleChannel(ch)
	}
}

// payeeOwes reports whether c was sent billable data it has not paid for.
func (t *torrent) payeeOwes(c *conn) bool {
	if !t.billing(c) {
		return false
	}
	p := t.s.pay
	p.mu.Lock()
	defer p.mu.Unlock()
	_, unpaid := p.book.Owed(c.ls.sp.pe.id)
	return unpaid > 0
}

// payeeDefaulted reports whether c missed a payment and still owes: no slot of any kind.
func (t *torrent) payeeDefaulted(c *conn) bool {
	if !t.billing(c) {
		return false
	}
	p := t.s.pay
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.book.Defaulted(c.ls.sp.pe.id, time.Now())
}

// onChannelOpen looks the channel up on our ledger the first time c names it, then binds c
// to it in the Book: one connection at a time, never once its settlement started.
func (t *torrent) onChannelOpen(c *conn, m wire.SpeedMessage) {
	pe := &c.ls.sp.pe
	wallet := t.s.wallet()
	if !t.billing(c) || pe.fetching {
		return
	}
	id := channel.ChannelID(m.Channel)
	p := t.s.pay
	p.mu.Lock()
	st, known := p.book.Channel(id)
	p.mu.Unlock()
	name := func(st channel.State) {
		p.mu.Lock()
		prev, err := p.book.Name(pe.id, st, time.Now())
		p.mu.Unlock()
		if err != nil {
			t.s.log.Warn("speed: channel refused", "requester", c, "channel", id, "err", err)
			reason := wire.SpeedRejectChannel
			if errors.Is(err, bidext.ErrChannelClosing) {
				reason = wire.SpeedRejectExpired // being settled: move to a new channel
			}
			t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedPaymentReject, Channel: m.Channel, Reason: reason})
			return
		}
		if prev != (channel.ChannelID{}) {
			t.s.settleChannel(prev) // used up: settle it, continue on the new one
		}
		if v := pe.pending; v != nil {
			pe.pending = nil
			t.onVoucher(c, *v)
		}
	}
	if known {
		name(st)
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
				return
			}
			name(st)
		})
	}()
}

// onVoucher checks a voucher against the channel's shared state, stores it durably off the
// loop, and only then counts it, acknowledges it and serves what the bound held.
func (t *torrent) onVoucher(c *conn, m wire.SpeedMessage) {
	pe := &c.ls.sp.pe
	if !t.billing(c) {
		return
	}
	v, err := channel.ParseVoucher(m.Voucher[:])
	if err != nil {
		t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedPaymentReject, Reason: wire.SpeedRejectMalformed})
		t.paymentFailed(c, "malformed voucher")
		return
	}
	if pe.fetching {
		pe.pending = &m // the ledger has not answered yet
		return
	}
	sv := channel.SignedVoucher{Voucher: v, Sig: channel.Signature(m.Sig)}
	p := t.s.pay
	p.mu.Lock()
	acc, err := p.book.Voucher(pe.id, t.s.payers, sv, time.Now())
	st, _ := p.book.Channel(v.Channel)
	p.mu.Unlock()
	if err != nil {
		reason := wire.SpeedRejectOther
		switch {
		case errors.Is(err, bidext.ErrNoChannel):
			reason = wire.SpeedRejectChannel
		case errors.Is(err, channel.ErrBadSignature), errors.Is(err, channel.ErrHighS):
			reason = wire.SpeedRejectSignature
		case errors.Is(err, channel.ErrStaleSequence):
			reason = wire.SpeedRejectSequence
		case errors.Is(err, channel.ErrOverDeposit):
			reason = wire.SpeedRejectDeposit
		case errors.Is(err, channel.ErrExpired), errors.Is(err, bidext.ErrChannelClosing):
			reason = wire.SpeedRejectExpired
		}
		t.s.log.Warn("speed: voucher refused", "requester", c, "err", err)
		t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedPaymentReject, Channel: sv.Channel, Seq: sv.Sequence, Reason: reason})
		t.paymentFailed(c, "voucher refused")
		return
	}
	credit := func() {
		p.mu.Lock()
		p.book.Credit(acc)
		p.mu.Unlock()
		t.stats.earned.Add(int64(acc.Added))
		t.stats.vouchersAccepted.Add(1)
		if t.conns[c.key] == c {
			t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedPaymentAck, Channel: sv.Channel, Seq: sv.Sequence})
			t.releaseHeld(c) // the requester closes once acknowledged: the ack must reach it
		}
	}
	if p.log == nil {
		credit()
		return
	}
	t.s.wg.Add(1)
	go func() {
		defer t.s.wg.Done()
		if err := p.log.Append(st.Payer, sv, st.Expiry); err != nil {
			t.s.log.Error("speed: storing a voucher", "err", err)
			return // never counted: the requester is not acknowledged and pays again
		}
		select {
		case t.cmds <- credit:
		case <-t.stopping:
			// The torrent is gone: the voucher is stored and will be settled.
			p.mu.Lock()
			p.book.Credit(acc)
			p.mu.Unlock()
		}
	}()
}

// releaseHeld serves the requests the exposure bound held, now that payment came; those
// still over the bound are held again.
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

// paymentFailed chokes a requester that broke a payment rule (a refused voucher) and
// strikes its address; repeated failures ban it.
func (t *torrent) paymentFailed(c *conn, why string) {
	t.stats.paymentFailures.Add(1)
	t.s.log.Warn("speed: payment failure", "requester", c, "why", why)
	c.ls.sp.pe.held = nil
	if !c.ls.amChoking {
		t.chokePeer(c, time.Now())
	}
	p := t.s.pay
	p.mu.Lock()
	ban := p.book.Strike(c.addr.Addr(), time.Now())
	p.mu.Unlock()
	if ban {
		t.banAndClose(c.addr.Addr(), "did not pay")
	}
}

// paymentTick chokes and strikes requesters whose payment is overdue, retries held
// requests (a payment on another torrent may have made room), and settles channels about
// to expire (the requester moves to a new channel an hour before expiry, so an honest one
// never pays on a channel being settled).
func (t *torrent) paymentTick(now time.Time) {
	if !t.speedOn() || t.s.wallet() == nil {
		return
	}
	p := t.s.pay
	ours := map[bidext.ConnID]*conn{}
	var ids []bidext.ConnID
	for _, c := range t.conns {
		if c.ls.sp.pe.id != 0 {
			ours[c.ls.sp.pe.id] = c
			ids = append(ids, c.ls.sp.pe.id)
		}
	}
	p.mu.Lock()
	over := p.book.Tick(now, ids)
	expiring := p.book.Expiring(now, settleBefore)
	p.mu.Unlock()
	for _, o := range over {
		c := ours[o.Conn]
		t.stats.paymentFailures.Add(1)
		t.s.log.Warn("speed: payment overdue", "requester", c)
		c.ls.sp.pe.held = nil
		if !c.ls.amChoking {
			t.chokePeer(c, now)
		}
		if o.Ban {
			t.banAndClose(o.Addr, "did not pay")
		}
	}
	for _, id := range expiring {
		t.s.settleChannel(id)
	}
	for _, c := range ours {
		if len(c.ls.sp.pe.held) > 0 {
			t.releaseHeld(c)
		}
	}
}
