package peer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/vouchers"
)

// sessionPay is the session's money as a provider: the Book (every requester's account and
// every channel's state, across torrents), the durable voucher log, and the settlements.
// mu guards book and settling; it is held for Book calls only, never across I/O.
type sessionPay struct {
	mu       sync.Mutex
	book     *bidext.Book
	settling map[channel.ChannelID]bool // settlements running in this process

	log     *vouchers.Log // nil without a state dir: vouchers count when accepted
	nextID  atomic.Uint64 // Book connection ids
	settled atomic.Int64  // base units the ledger confirmed, each settlement once
	once    sync.Map      // channel id -> struct{}: settlements counted (without a log)
}

// voucherLogName is the log's file in the state dir, per payee key: two sessions with
// different wallets may share a state dir, one wallet's log is locked by one process.
func voucherLogName(k *channel.PrivateKey) string {
	return fmt.Sprintf("vouchers-%s.log", k.Address())
}

// startPay sets up the provider's payments: the Book, and with a state dir the voucher log,
// whose unsettled channels are settled again (a provider killed after accepting vouchers
// is paid once it restarts).
func (s *Session) startPay(stateDir string) error {
	s.pay = &sessionPay{
		book:     bidext.NewBook(bidext.BookConfig{PaymentTimeout: s.settings.PaymentTimeout}),
		settling: map[channel.ChannelID]bool{},
	}
	w := s.wallet()
	if !s.speed.Enabled || w == nil || stateDir == "" {
		return nil
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("peer: state dir: %w", err)
	}
	l, err := vouchers.Open(filepath.Join(stateDir, voucherLogName(w)))
	if err != nil {
		return err
	}
	s.pay.log = l
	for _, e := range l.Pending() {
		s.pay.book.Restore(e.Payer, e.Voucher, e.Expiry)
		s.pay.settling[e.Voucher.Channel] = true
		s.log.Info("speed: resuming a settlement", "channel", e.Voucher.Channel, "cumulative", e.Voucher.Cumulative)
		s.startSettle(e.Payer, e.Voucher, time.Unix(int64(e.Expiry), 0))
	}
	return nil
}

// closePay releases the voucher log once every settlement goroutine is done.
func (s *Session) closePay() {
	if s.pay != nil && s.pay.log != nil {
		s.pay.log.Close()
	}
}

// settledTotal is what the ledger confirmed paying us in this session.
func (s *Session) settledTotal() int64 {
	if s.pay == nil {
		return 0
	}
	return s.pay.settled.Load()
}

// settleChannel starts the settlement of a channel: the Book takes no more vouchers on it,
// and a goroutine closes it on the ledger with the last accepted voucher, retrying with
// backoff until the ledger confirms or the channel expires (the ledger then refunds the
// payer: nothing is left to claim).
func (s *Session) settleChannel(id channel.ChannelID) {
	p := s.pay
	p.mu.Lock()
	last, payer, ok := p.book.Settle(id)
	st, _ := p.book.Channel(id)
	if p.settling[id] {
		ok = false
	}
	if ok && last == nil {
		p.book.Settled(id) // nothing was paid on it
		ok = false
	}
	if ok {
		p.settling[id] = true
	}
	p.mu.Unlock()
	if !ok {
		return
	}
	s.startSettle(payer, *last, time.Unix(int64(st.Expiry), 0))
}

// startSettle runs settleLoop in a goroutine and forgets the channel once it is done.
func (s *Session) startSettle(payer channel.PublicKey, v channel.SignedVoucher, expiry time.Time) {
	p := s.pay
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.settleLoop(payer, v, expiry)
		p.mu.Lock()
		delete(p.settling, v.Channel)
		p.book.Settled(v.Channel)
		p.mu.Unlock()
	}()
}

// settleLoop closes the channel on the ledger, retrying after SettleRetry, doubling up to
// SettleRetryMax, until the ledger confirms, the channel expires, or the session closes (a
// voucher log resumes it on the next start).
func (s *Session) settleLoop(payer channel.PublicKey, v channel.SignedVoucher, expiry time.Time) {
	wallet := s.wallet()
	cl := s.ledgerClient(s.speed.Ledger)
	wait := s.settings.SettleRetry
	for attempt := 1; ; attempt++ {
		// A close already sent finishes even while the session shuts down: an unsettled
		// channel pays nothing.
		ctx, cancel := context.WithTimeout(context.Background(), ledgerTimeout)
		ch, err := cl.CloseChannel(ctx, wallet, payer, v)
		if errors.Is(err, ledger.ErrChannelClosed) {
			// Closed already, by an earlier attempt whose answer was lost or at expiry:
			// what it paid is on the ledger.
			ch, err = cl.Channel(ctx, v.Channel)
			if err == nil && ch.Status == ledger.StatusOpen {
				err = fmt.Errorf("ledger says closed, then open")
			}
		}
		cancel()
		if err == nil {
			s.settledOnce(v.Channel, uint64(ch.Paid), uint64(ch.Refunded))
			return
		}
		s.log.Warn("speed: settling a channel failed", "channel", v.Channel, "attempt", attempt, "retry in", wait, "err", err)
		if time.Now().Add(wait).After(expiry) {
			s.log.Error("speed: channel expired before it could be settled; the ledger refunds its payer", "channel", v.Channel)
			return
		}
		select {
		case <-time.After(wait):
		case <-s.ctx.Done():
			return // the voucher log (if any) settles it on the next start
		}
		wait = min(2*wait, s.settings.SettleRetryMax)
	}
}

// settledOnce counts a confirmed settlement exactly once: the ledger answers a repeated
// close with the same channel, and that must not be counted again.
func (s *Session) settledOnce(id channel.ChannelID, paid, refunded uint64) {
	p := s.pay
	first := true
	if p.log != nil {
		var err error
		if first, err = p.log.Settled(id, paid); err != nil {
			s.log.Error("speed: recording a settlement", "channel", id, "err", err)
		}
	} else {
		_, seen := p.once.LoadOrStore(id, struct{}{})
		first = !seen
	}
	if !first {
		return
	}
	p.settled.Add(int64(paid))
	s.log.Info("speed: channel settled", "channel", id, "paid", paid, "refunded", refunded)
}
