package peer

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/wire"
)

// The requester's money: one budget for the whole session (bidext.Budget), deposits sized
// from the price and the data still wanted on a balance read just before the open, opens
// retried a bounded number of times, and payment only on the ledgers we trust.

// Channel opening (docs/speed-payments.md, rule 8).
const (
	// openAttempts bounds the tries to fund one channel; then the bid to that provider is
	// withdrawn (cannot pay), which the provider answers with a choke, not a strike.
	openAttempts = 3
	// openRetry is the wait before the second try, doubled before the third: a balance
	// just moved by a settlement or a refund has time to show.
	openRetry = time.Second
)

// sessionSpend is the session's spending as a requester. mu guards budget, signed and
// maxPrice; openMu makes channel opens one at a time, so each reads the balance the
// previous one left (two opens on one stale balance both asked for all of it).
type sessionSpend struct {
	mu       sync.Mutex
	budget   *bidext.Budget
	signed   uint64 // total of every voucher signed this session
	maxPrice uint64 // 0: none
	openMu   sync.Mutex
}

// startSpend sets the budget: the configured one, else SpendingRate x the balance at start
// (once: the rate is never applied again to what remains).
func (s *Session) startSpend() {
	limit := s.speed.Budget
	if limit == 0 && s.speed.Balance != nil {
		limit, _ = mulPPM(s.speed.Balance(), s.speed.SpendingRate)
	}
	s.spend = &sessionSpend{budget: bidext.NewBudget(limit), maxPrice: s.speed.MaxPrice}
}

// mulPPM is floor(v * ppm / 1e6), exactly (ppm above 1e6 counts as 1e6).
func mulPPM(v uint64, ppm uint32) (uint64, bool) {
	hi, lo := bits.Mul64(v, uint64(min(ppm, bidext.PPM)))
	q, _ := bits.Div64(hi, lo, bidext.PPM) // hi < 1e6 since ppm <= 1e6: no panic
	return q, true
}

// SetBudget changes the session's spending budget (base units) at run time. Lowering it
// stops new deposits; channels already funded keep paying up to their deposit. Every
// torrent re-bids at once.
func (s *Session) SetBudget(units uint64) {
	s.spend.mu.Lock()
	s.spend.budget.SetLimit(units)
	s.spend.mu.Unlock()
	s.forEachSpeedTorrent(func(t *torrent) {
		t.speed.bidder.BalanceChanged()
		t.speedTick(time.Now())
	})
}

// SetMaxPrice caps every auto-bid (units per GiB; 0: no cap), at run time.
func (s *Session) SetMaxPrice(units uint64) {
	s.spend.mu.Lock()
	s.spend.maxPrice = units
	s.spend.mu.Unlock()
	s.forEachSpeedTorrent(func(t *torrent) {
		t.speed.bidder.BalanceChanged()
		t.speedTick(time.Now())
	})
}

// SetSpendingRate sets the budget to what was signed so far plus ppm (parts per million)
// of the balance now, at run time.
func (s *Session) SetSpendingRate(ppm uint32) {
	var bal uint64
	if s.speed.Balance != nil {
		bal = s.speed.Balance()
	}
	add, _ := mulPPM(bal, ppm)
	s.spend.mu.Lock()
	s.spend.budget.SetLimit(s.spend.signed + add)
	s.spend.mu.Unlock()
	s.forEachSpeedTorrent(func(t *torrent) {
		t.speed.bidder.BalanceChanged()
		t.speedTick(time.Now())
	})
}

// BalanceChanged tells auto-bid the user moved the balance (a faucet grant, a transfer):
// every torrent re-bids at once.
func (s *Session) BalanceChanged() {
	s.forEachSpeedTorrent(func(t *torrent) { t.speed.bidder.BalanceChanged() })
}

// Budget reports the session's budget, what deposits and retired channels commit of it,
// and what vouchers signed.
func (s *Session) Budget() (limit, committed, signed uint64) {
	s.spend.mu.Lock()
	defer s.spend.mu.Unlock()
	return s.spend.budget.Limit(), s.spend.budget.Committed(), s.spend.signed
}

// SetBidding turns auto-bid on or off for this torrent at run time; off withdraws its bid.
func (T *Torrent) SetBidding(on bool) {
	T.t.do(func() {
		if T.t.speedOn() {
			T.t.speed.bidder.SetEnabled(on)
			T.t.speedTick(time.Now())
		}
	})
}

// SetSpendingRate scales this torrent's auto-bid within the session budget (parts per
// million; 1e6, the default, bids the whole budget's price), at run time.
func (T *Torrent) SetSpendingRate(ppm uint32) {
	T.t.do(func() {
		if T.t.speedOn() {
			T.t.speed.bidder.SetRate(ppm)
			T.t.speedTick(time.Now())
		}
	})
}

func (s *Session) forEachSpeedTorrent(f func(t *torrent)) {
	s.mu.Lock()
	ts := make([]*Torrent, 0, len(s.torrents))
	for _, t := range s.torrents {
		ts = append(ts, t)
	}
	s.mu.Unlock()
	for _, T := range ts {
		t := T.t
		t.do(func() {
			if t.speedOn() {
				f(t)
			}
		})
	}
}

// spendable is what auto-bid may still promise, and the data still wanted by every torrent
// that bids: the session's bid is the price at which one buys the other.
func (s *Session) spendable() (spendable, remaining, maxPrice uint64) {
	s.spend.mu.Lock()
	limit, signed := s.spend.budget.Limit(), s.spend.signed
	maxPrice = s.spend.maxPrice
	s.spend.mu.Unlock()
	if limit > signed {
		spendable = limit - signed
	}
	s.mu.Lock()
	for _, T := range s.torrents {
		t := T.t
		if t.bidding.Load() {
			remaining += uint64(max(t.layout.TotalLength-t.stats.bytesDone.Load(), 0))
		}
	}
	s.mu.Unlock()
	return spendable, remaining, maxPrice
}

// trusted reports whether we pay on a ledger: only those we are configured with. A provider
// may name one ledger by the comma-separated URLs of its processes (ledger.NewClient fails
// over between them); every one of them must be ours, or a provider could slip in its own.
func (s *Session) trusted(urls string) bool {
	norm := func(u string) string { return strings.TrimRight(strings.TrimSpace(u), "/") }
	named := strings.Split(urls, ",")
	if len(named) > ledger.MaxURLs {
		return false
	}
	for _, u := range named {
		if !slices.ContainsFunc(s.speed.TrustedLedgers(), func(l string) bool { return norm(l) == norm(u) }) {
			return false
		}
	}
	return true
}

// TrustedLedgers are the ledgers a requester pays on: Ledgers, else Ledger alone.
func (c SpeedConfig) TrustedLedgers() []string {
	if len(c.Ledgers) > 0 {
		return c.Ledgers
	}
	if c.Ledger == "" {
		return nil
	}
	return []string{c.Ledger}
}

// withdrawFrom withdraws our bid to one provider (a bid of 0: "cannot pay", docs/speed-payments.md
// rule 6). The provider chokes us without a strike; we do not bid to it again on this connection.
func (t *torrent) withdrawFrom(c *conn, why string) {
	ps := &c.ls.sp.pr
	if ps.withdrawn {
		return
	}
	t.s.log.Warn("speed: cannot pay this provider; bid withdrawn", "provider", c, "why", why)
	ps.withdrawn, ps.terms = true, false
	t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedBid, Price: 0})
	c.ls.sp.sentBid = 0
	t.stats.withdrawals.Add(1)
}

// errCannotPay reports a deposit that the budget or the balance cannot fund.
var errCannotPay = errors.New("nothing left to deposit (budget or balance)")

// fundChannel opens a channel of up to want base units towards key on cl: one open at a
// time in the session, on a balance read just before, within the budget; a failed open is
// retried openAttempts times. It returns the payer and the deposit granted.
func (s *Session) fundChannel(ctx context.Context, cl *ledger.Client, key channel.PublicKey, want uint64) (*channel.Payer, ledger.Channel, error) {
	wallet := s.wallet()
	wait := openRetry
	var err error
	for attempt := 1; attempt <= openAttempts; attempt++ {
		var payer *channel.Payer
		var ch ledger.Channel
		payer, ch, err = s.fundOnce(ctx, cl, wallet, key, want)
		if err == nil || errors.Is(err, errCannotPay) {
			return payer, ch, err
		}
		s.log.Info("speed: channel open failed", "attempt", attempt, "err", err)
		if attempt == openAttempts {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ch, ctx.Err()
		}
		wait *= 2
	}
	return nil, ledger.Channel{}, err
}

func (s *Session) fundOnce(ctx context.Context, cl *ledger.Client, wallet *channel.PrivateKey, key channel.PublicKey, want uint64) (*channel.Payer, ledger.Channel, error) {
	s.spend.openMu.Lock()
	defer s.spend.openMu.Unlock()
	acct, err := cl.Balance(ctx, wallet.Address())
	if err != nil {
		return nil, ledger.Channel{}, fmt.Errorf("reading the balance: %w", err)
	}
	s.spend.mu.Lock()
	deposit := s.spend.budget.Reserve(min(want, uint64(acct.Balance)))
	s.spend.mu.Unlock()
	if deposit == 0 {
		return nil, ledger.Channel{}, errCannotPay
	}
	release := func() {
		s.spend.mu.Lock()
		s.spend.budget.Retire(deposit, 0)
		s.spend.mu.Unlock()
	}
	id, err := cl.LedgerID(ctx)
	if err != nil {
		release()
		return nil, ledger.Channel{}, err
	}
	ch, err := cl.OpenChannel(ctx, wallet, key, deposit, time.Now().Add(channelLife))
	if err != nil {
		release()
		return nil, ch, err
	}
	o := channel.Open{Ledger: id, Payer: wallet.Public(), Payee: key, Amount: uint64(ch.Amount), Nonce: uint64(ch.Nonce), Expiry: uint64(ch.Expiry)}
	payer, err := channel.NewPayer(wallet, &o)
	if err != nil {
		release()
		return nil, ch, err
	}
	return payer, ch, nil
}

// retire gives a channel we will sign no more on back to the budget: only what we signed
// on it stays committed.
func (s *Session) retire(p *channel.Payer) {
	if p == nil {
		return
	}
	s.spend.mu.Lock()
	s.spend.budget.Retire(p.Paid()+p.Remaining(), p.Paid())
	s.spend.mu.Unlock()
}

// payerDisconnect retires the channel we paid a provider on when its connection goes.
func (t *torrent) payerDisconnect(c *conn) {
	if !t.speedOn() {
		return
	}
	ps := &c.ls.sp.pr
	t.s.retire(ps.payer)
	ps.payer = nil
}
