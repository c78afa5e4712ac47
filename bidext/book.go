package bidext

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/speedbt/btt/channel"
)

// The exposure bound (docs/speed-payments.md, rule 1).
const (
	// MinUnpaidLimit is the least billable data a provider sends a requester ahead of its
	// payment. A voucher takes one round trip plus a piece's verification to come back, and
	// the requester keeps streaming meanwhile: 4 MiB is 40 ms at 100 MB/s, 330 ms at
	// 100 Mbit/s, so a paid slot is not idled by its own payments at realistic RTTs.
	MinUnpaidLimit = 4 << 20
	// MaxStreamEntries bounds one connection's queue of unpaid sends; beyond it, sends merge
	// into the newest entry (only requests of a few bytes each can get there).
	MaxStreamEntries = 4096
	// MaxDeadStreams bounds the disconnected connections whose debt an account remembers.
	MaxDeadStreams = 16
	// DefaultMaxAccounts bounds the requesters a Book tracks.
	DefaultMaxAccounts = 4096
	// DefaultMaxChannels bounds the channels a Book tracks at once.
	DefaultMaxChannels = 4096
	// DefaultPaidPerAddress bounds the requesters (payment keys) of one address that may
	// owe at once: an address rotating keys gets no more than this many bounds of credit.
	DefaultPaidPerAddress = 4
)

// UnpaidLimit is the exposure bound for a torrent of pieceLen-byte pieces: a provider has at
// most max(4 MiB, 2 pieces) of billable data sent and not yet paid per requester, summed over
// all its connections and torrents. Two pieces at least, so one piece streams while the
// voucher for the previous one is in flight.
func UnpaidLimit(pieceLen int64) uint64 {
	return max(MinUnpaidLimit, 2*uint64(max(pieceLen, 0)))
}

// Errors a Book returns; test with errors.Is.
var (
	ErrChannelInUse   = errors.New("bidext: channel in use by another connection")
	ErrChannelClosing = errors.New("bidext: channel is being settled")
	ErrChannelPayer   = errors.New("bidext: channel's payer is not this requester")
	ErrTooManyChannel = errors.New("bidext: too many channels")
	ErrUnknownConn    = errors.New("bidext: unknown connection")
	ErrNoChannel      = errors.New("bidext: voucher on a channel the connection did not name")
)

// ConnID names one connection in a Book; the caller picks unique ids.
type ConnID uint64

// PieceRef names one piece of one torrent.
type PieceRef struct {
	Torrent [20]byte
	Index   uint32
}

// BookConfig are a Book's limits; zero fields take the defaults.
type BookConfig struct {
	// PaymentTimeout: every billable byte must be paid this soon after it was sent.
	PaymentTimeout time.Duration
	MaxAccounts    int
	MaxChannels    int
	PaidPerAddress int
	// Strikes are the limits of the per-address strike counters (zero: the defaults).
	Strikes Strikes
}

// Book is a provider's accounting of its requesters (docs/speed-payments.md): one account
// per requester (its payment key once it named a channel, its address before), one state per
// channel id shared by every connection and torrent, and the exposure bound counted per
// account across its connections. It does no I/O and keeps no clock: the caller passes now.
// Not safe for concurrent use; the session serialises calls.
type Book struct {
	cfg      BookConfig
	accounts map[acctKey]*account
	conns    map[ConnID]*stream
	channels map[channel.ChannelID]*chanState
	strikes  map[netip.Addr]*Strikes
	debtors  map[netip.Addr]int // accounts last used from addr that owe
}

type acctKey struct {
	key  channel.PublicKey // zero until a channel is named
	addr netip.Addr        // set while key is zero
}

type account struct {
	id      acctKey
	addr    netip.Addr // the address last used
	streams map[*stream]struct{}
	dead    []*stream // disconnected streams that still owe, oldest first
	owing   bool      // counted in debtors[addr]
	last    time.Time // last activity, for eviction
}

// stream is one connection's billing: the data sent on it and the payments for it. The
// requester meters per connection too, so both sides compute the same amounts.
type stream struct {
	id       ConnID
	addr     netip.Addr
	acct     *account
	meter    Meter
	entries  []entry              // unpaid sends, oldest first
	credit   uint64               // paid amount not yet matched to an entry
	pending  uint64               // accepted vouchers not yet stored durably
	open     map[PieceRef]*opened // pieces started and not complete
	channel  *chanState           // the channel this connection pays on
	deadline time.Time            // next strike if still owing; zero when nothing is due
	withdrew bool                 // bid withdrawn: cannot pay, no strikes
	live     bool
	diedAt   time.Time
}

type entry struct {
	bytes, amount uint64
	at            time.Time
}

type opened struct{ size, sent uint64 }

type chanState struct {
	st       channel.State
	owner    *stream // the connection using it; nil when none
	last     *channel.SignedVoucher
	credited uint64 // cumulative amount counted (stored durably)
	settling bool
}

// NewBook returns an empty book.
func NewBook(cfg BookConfig) *Book {
	if cfg.PaymentTimeout <= 0 {
		cfg.PaymentTimeout = PaymentTimeout
	}
	if cfg.MaxAccounts <= 0 {
		cfg.MaxAccounts = DefaultMaxAccounts
	}
	if cfg.MaxChannels <= 0 {
		cfg.MaxChannels = DefaultMaxChannels
	}
	if cfg.PaidPerAddress <= 0 {
		cfg.PaidPerAddress = DefaultPaidPerAddress
	}
	return &Book{cfg: cfg, accounts: map[acctKey]*account{}, conns: map[ConnID]*stream{},
		channels: map[channel.ChannelID]*chanState{}, strikes: map[netip.Addr]*Strikes{}, debtors: map[netip.Addr]int{}}
}

// Connect starts billing a connection from addr, on its address's account.
func (b *Book) Connect(id ConnID, addr netip.Addr, now time.Time) {
	if _, ok := b.conns[id]; ok {
		return
	}
	addr = addr.Unmap()
	s := &stream{id: id, addr: addr, live: true}
	b.conns[id] = s
	b.attach(s, acctKey{addr: addr}, now)
}

func (b *Book) attach(s *stream, k acctKey, now time.Time) {
	a := b.accounts[k]
	if a == nil {
		b.evict(now)
		a = &account{id: k, streams: map[*stream]struct{}{}}
		b.accounts[k] = a
	}
	b.setOwing(a, false)
	a.addr, a.last = s.addr, now
	a.streams[s] = struct{}{}
	s.acct = a
	b.setOwing(a, a.unpaid() > 0)
}

// evict makes room for one more account: the least recently active one with no live
// connection goes (its dead debts with it: each was a strike already).
func (b *Book) evict(now time.Time) {
	if len(b.accounts) < b.cfg.MaxAccounts {
		return
	}
	var victim *account
	for _, a := range b.accounts {
		if len(a.streams) > 0 {
			continue
		}
		if victim == nil || a.last.Before(victim.last) {
			victim = a
		}
	}
	if victim != nil {
		b.setOwing(victim, false)
		delete(b.accounts, victim.id)
	}
}

func (b *Book) setOwing(a *account, owing bool) {
	if a.owing == owing {
		return
	}
	a.owing = owing
	if owing {
		b.debtors[a.addr]++
		return
	}
	if b.debtors[a.addr]--; b.debtors[a.addr] <= 0 {
		delete(b.debtors, a.addr)
	}
}

func (s *stream) unpaidBytes() uint64 {
	var n uint64
	for _, e := range s.entries {
		n += e.bytes
	}
	return n
}

func (a *account) deadOwe() bool {
	for _, s := range a.dead {
		if len(s.entries) > 0 {
			return true
		}
	}
	return false
}

func (s *stream) reserved() uint64 {
	var n uint64
	for _, o := range s.open {
		n += o.size - o.sent
	}
	return n
}

// unpaid is the account's billable data sent and not yet paid, over all its connections.
func (a *account) unpaid() uint64 {
	var n uint64
	for s := range a.streams {
		n += s.unpaidBytes()
	}
	for _, s := range a.dead {
		n += s.unpaidBytes()
	}
	return n
}

// exposure is unpaid data plus what the pieces already started may still send.
func (a *account) exposure() uint64 {
	n := a.unpaid()
	for s := range a.streams {
		n += s.reserved()
	}
	return n
}

// Serve decides whether n bytes of piece p (of pieceLen bytes in full; its size is
// pieceSize) may be sent to connection id at price now, and bills them if so. A block of
// a piece already started is always served: starting a piece reserves its whole size, so a
// requester that asked for several pieces at once can complete them and pay. A new piece
// starts only while the account's exposure plus the piece stays within UnpaidLimit. Price 0
// is free: served, not billed.
func (b *Book) Serve(id ConnID, p PieceRef, pieceLen, pieceSize int64, n uint32, price uint64, now time.Time) (serve bool) {
	s := b.conns[id]
	if s == nil || price == 0 || n == 0 {
		return true
	}
	a := s.acct
	o := s.open[p]
	if o == nil {
		size := uint64(max(pieceSize, int64(n)))
		if a.exposure()+size > UnpaidLimit(pieceLen) {
			return false
		}
		if !a.owing && b.debtors[s.addr] >= b.cfg.PaidPerAddress {
			return false // this address has enough requesters owing already
		}
		if s.open == nil {
			s.open = map[PieceRef]*opened{}
		}
		o = &opened{size: size}
		s.open[p] = o
	}
	before := s.meter.Total()
	after, err := s.meter.Add(price, uint64(n))
	if err != nil {
		return false
	}
	o.sent += uint64(n)
	if o.sent >= o.size {
		delete(s.open, p)
	}
	s.push(entry{bytes: uint64(n), amount: after - before, at: now})
	a.last = now
	s.settle()
	if len(s.entries) > 0 && s.deadline.IsZero() {
		s.deadline = s.entries[0].at.Add(b.cfg.PaymentTimeout)
	}
	b.setOwing(a, a.unpaid() > 0)
	return true
}

func (s *stream) push(e entry) {
	if len(s.entries) >= MaxStreamEntries {
		t := &s.entries[len(s.entries)-1]
		t.bytes += e.bytes
		t.amount += e.amount
		return
	}
	s.entries = append(s.entries, e)
}

// settle matches credit against the oldest unpaid sends. It reports whether any was paid.
func (s *stream) settle() bool {
	paid := false
	for len(s.entries) > 0 && s.entries[0].amount <= s.credit {
		s.credit -= s.entries[0].amount
		s.entries = s.entries[1:]
		paid = true
	}
	if len(s.entries) == 0 {
		s.entries = nil
	}
	return paid
}

// Unserve takes back n bytes of piece p that were billed but never went out (dropped from
// the send queue by a choke or a cancel): they go back to the piece's reservation.
func (b *Book) Unserve(id ConnID, p PieceRef, n uint32, price uint64) {
	s := b.conns[id]
	if s == nil || price == 0 || n == 0 || len(s.entries) == 0 {
		return
	}
	before := s.meter.Total()
	after := s.meter.Remove(price, uint64(n))
	back, less := uint64(n), before-after
	// The dropped bytes are the newest billed: take them, and their amount, off the newest
	// entries (an entry already paid is not touched: the rest becomes credit).
	left := back
	for (left > 0 || less > 0) && len(s.entries) > 0 {
		e := &s.entries[len(s.entries)-1]
		tb, ta := min(left, e.bytes), min(less, e.amount)
		e.bytes, e.amount, left, less = e.bytes-tb, e.amount-ta, left-tb, less-ta
		if e.bytes == 0 {
			r := e.amount // rounding: the amount belongs to the bytes before
			s.entries = s.entries[:len(s.entries)-1]
			if len(s.entries) > 0 {
				s.entries[len(s.entries)-1].amount += r
			}
		}
	}
	back -= left
	o := s.open[p]
	if o == nil {
		if s.open == nil {
			s.open = map[PieceRef]*opened{}
		}
		o = &opened{size: back}
		s.open[p] = o
	} else {
		o.sent -= min(o.sent, back)
	}
	if len(s.entries) == 0 {
		s.entries, s.deadline = nil, time.Time{}
	}
	b.setOwing(s.acct, s.acct.unpaid() > 0)
}

// Have notes the requester has piece p: no more of it will be sent, so its reservation ends
// on every connection of the account.
func (b *Book) Have(id ConnID, p PieceRef) {
	s := b.conns[id]
	if s == nil {
		return
	}
	for o := range s.acct.streams {
		delete(o.open, p)
	}
}

// Withdraw records that the requester withdrew its bid (bid 0): it cannot pay. It gets no
// paid slot (the caller chokes it) and no strike; what it owes stays counted against it.
// A new bid (Bid) lifts it.
func (b *Book) Withdraw(id ConnID) {
	if s := b.conns[id]; s != nil {
		s.withdrew, s.deadline = true, time.Time{}
	}
}

// Bid records a non-zero bid: a requester that withdrew is back, and owes on a fresh deadline.
func (b *Book) Bid(id ConnID, now time.Time) {
	s := b.conns[id]
	if s == nil || !s.withdrew {
		return
	}
	s.withdrew = false
	if len(s.entries) > 0 {
		s.deadline = now.Add(b.cfg.PaymentTimeout)
	}
}

// Name binds a connection to a channel the ledger confirmed (st: its terms, no voucher
// accepted yet if the book does not know it). The channel's state is shared: a channel the
// book knows keeps its last accepted voucher. A channel is used by one connection at a
// time and takes no voucher once its settlement started. The connection's billing moves
// to the payer key's account with its first valid voucher on the channel.
func (b *Book) Name(id ConnID, st channel.State, now time.Time) (prev channel.ChannelID, err error) {
	s := b.conns[id]
	if s == nil {
		return prev, ErrUnknownConn
	}
	cs := b.channels[st.ID]
	payer := st.Payer
	if cs != nil {
		payer = cs.st.Payer
	}
	if s.acct.id.key != (channel.PublicKey{}) && s.acct.id.key != payer {
		return prev, fmt.Errorf("%w: connection pays with another key", ErrChannelPayer)
	}
	switch {
	case cs == nil && len(b.channels) >= b.cfg.MaxChannels:
		return prev, ErrTooManyChannel
	case cs == nil:
		cs = &chanState{st: st}
		b.channels[st.ID] = cs
	case cs.settling:
		return prev, ErrChannelClosing
	case cs.owner != nil && cs.owner != s:
		return prev, ErrChannelInUse
	}
	if old := s.channel; old != nil && old != cs && old.owner == s {
		old.owner = nil
		if !old.settling && old.last != nil {
			prev = old.st.ID // used up: the caller settles it
		}
	}
	cs.owner, s.channel = s, cs
	return prev, nil
}

// moveToKey moves a connection, with its debts, from its address's account to its payer
// key's account: done on its first valid voucher, whose signature proves it holds the key
// (a channel id alone is public on the ledger, and naming someone else's channel must not
// charge that requester's account).
func (b *Book) moveToKey(s *stream, key channel.PublicKey, now time.Time) {
	if s.acct.id.key != (channel.PublicKey{}) {
		return
	}
	old := s.acct
	b.setOwing(old, false)
	delete(old.streams, s)
	b.setOwing(old, old.unpaid() > 0)
	if len(old.streams) == 0 && len(old.dead) == 0 {
		delete(b.accounts, old.id)
	}
	b.attach(s, acctKey{key: key}, now)
}

// Channel returns the book's state of a channel.
func (b *Book) Channel(ch channel.ChannelID) (channel.State, bool) {
	cs := b.channels[ch]
	if cs == nil {
		return channel.State{}, false
	}
	return cs.st, true
}

// Accepted is a voucher the book accepted; it counts once the caller stored it durably and
// called Credit.
type Accepted struct {
	Conn    ConnID
	Payer   channel.PublicKey
	Voucher channel.SignedVoucher
	Added   uint64 // what it adds to the channel's cumulative amount
}

// Voucher validates a voucher against the shared state of the channel connection id named
// (signature through kc) and advances that state. It counts nothing yet: the caller stores
// it durably, then calls Credit.
func (b *Book) Voucher(id ConnID, kc *channel.KeyCache, sv channel.SignedVoucher, now time.Time) (Accepted, error) {
	s := b.conns[id]
	if s == nil {
		return Accepted{}, ErrUnknownConn
	}
	cs := s.channel
	if cs == nil || cs.st.ID != sv.Channel || cs.owner != s {
		return Accepted{}, ErrNoChannel
	}
	if cs.settling {
		return Accepted{}, ErrChannelClosing
	}
	added, err := cs.st.AcceptCached(kc, sv, now)
	if err != nil {
		return Accepted{}, err
	}
	last := sv
	cs.last = &last
	s.pending += added
	b.moveToKey(s, cs.st.Payer, now)
	return Accepted{Conn: id, Payer: cs.st.Payer, Voucher: sv, Added: added}, nil
}

// Credit counts an accepted voucher once it is stored durably: the connection's oldest
// unpaid sends are paid off. It reports whether the account now owes nothing due.
func (b *Book) Credit(a Accepted) (paidUp bool) {
	cs := b.channels[a.Voucher.Channel]
	if cs != nil && a.Voucher.Cumulative > cs.credited {
		cs.credited = a.Voucher.Cumulative
	}
	s := b.conns[a.Conn]
	if s == nil {
		return false
	}
	s.pending -= min(s.pending, a.Added)
	s.credit += a.Added
	s.settle()
	if len(s.entries) == 0 {
		s.deadline = time.Time{}
	} else {
		s.deadline = s.entries[0].at.Add(b.cfg.PaymentTimeout)
	}
	b.setOwing(s.acct, s.acct.unpaid() > 0)
	return len(s.entries) == 0
}

// Settle starts the settlement of a channel: from now on it takes no voucher. It returns
// the last voucher accepted on it (nil: nothing to settle) and the payer's key.
func (b *Book) Settle(ch channel.ChannelID) (last *channel.SignedVoucher, payer channel.PublicKey, ok bool) {
	cs := b.channels[ch]
	if cs == nil || cs.settling {
		return nil, channel.PublicKey{}, false
	}
	cs.settling = true
	return cs.last, cs.st.Payer, true
}

// Restore registers a channel whose settlement resumes after a restart (its last voucher
// was stored durably): it takes no voucher and no connection may name it.
func (b *Book) Restore(payer channel.PublicKey, last channel.SignedVoucher, expiry uint64) {
	if _, ok := b.channels[last.Channel]; ok {
		return
	}
	b.channels[last.Channel] = &chanState{
		st:   channel.State{ID: last.Channel, Payer: payer, Expiry: expiry, Sequence: last.Sequence, Cumulative: last.Cumulative},
		last: &last, credited: last.Cumulative, settling: true,
	}
}

// Settled forgets a channel the ledger closed.
func (b *Book) Settled(ch channel.ChannelID) {
	if cs := b.channels[ch]; cs != nil {
		if cs.owner != nil {
			cs.owner.channel = nil
		}
		delete(b.channels, ch)
	}
}

// Expiring returns the channels to settle now: those expiring within before.
func (b *Book) Expiring(now time.Time, before time.Duration) []channel.ChannelID {
	var ids []channel.ChannelID
	for id, cs := range b.channels {
		if !cs.settling && now.Add(before).Unix() >= int64(cs.st.Expiry) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Disconnect ends a connection. Owing money past what it paid (stored or in flight), on it
// or on the account's earlier connections, is a strike against its address (ban reports whether that banned it); the debt stays counted
// against the account for a strike window. The channel it used is returned for settlement
// (zero when none).
func (b *Book) Disconnect(id ConnID, now time.Time) (ch channel.ChannelID, strike, ban bool) {
	s := b.conns[id]
	if s == nil {
		return ch, false, false
	}
	delete(b.conns, id)
	s.live = false
	s.diedAt = now
	s.open = nil
	if cs := s.channel; cs != nil && cs.owner == s {
		cs.owner = nil
		if !cs.settling && cs.last != nil {
			ch = cs.st.ID
		}
	}
	a := s.acct
	delete(a.streams, s)
	var owed uint64
	for _, e := range s.entries {
		owed += e.amount
	}
	// The requester owes if this connection does, or if the account still carries the
	// debt of one that left owing: a reconnect loop strikes every round.
	if (owed > s.credit+s.pending || a.deadOwe()) && !s.withdrew {
		strike = true
		ban = b.Strike(s.addr, now)
	}
	if len(s.entries) > 0 {
		s.deadline = time.Time{}
		a.dead = append(a.dead, s)
		if len(a.dead) > MaxDeadStreams {
			a.dead = a.dead[1:]
		}
	}
	b.setOwing(a, a.unpaid() > 0)
	a.last = now
	return ch, strike, ban
}

// Strike records a payment failure of addr (a refused voucher, a missed deadline) and
// reports whether it is now banned.
func (b *Book) Strike(addr netip.Addr, now time.Time) (ban bool) {
	addr = addr.Unmap()
	st := b.strikes[addr]
	if st == nil {
		if len(b.strikes) >= b.cfg.MaxAccounts {
			for k, v := range b.strikes { // drop one whose strikes all left the window
				if !v.Banned(now) && len(v.times) == 0 {
					delete(b.strikes, k)
					break
				}
			}
		}
		st = &Strikes{Limit: b.cfg.Strikes.Limit, Window: b.cfg.Strikes.Window, Ban: b.cfg.Strikes.Ban}
		b.strikes[addr] = st
	}
	return st.Fail(now)
}

// Overdue is a connection that missed its payment deadline: a strike, and a ban when Ban.
type Overdue struct {
	Conn ConnID
	Addr netip.Addr
	Ban  bool
}

// Tick finds which of the connections ids are overdue (each gets a strike, and a new
// deadline one timeout later) and forgets dead debts older than the strike window. Each
// torrent passes its own connections, so each acts on its own.
func (b *Book) Tick(now time.Time, ids []ConnID) []Overdue {
	var out []Overdue
	for _, id := range ids {
		s := b.conns[id]
		if s == nil || s.withdrew || s.deadline.IsZero() || !now.After(s.deadline) {
			continue
		}
		var owed uint64
		for _, e := range s.entries {
			owed += e.amount
		}
		if owed <= s.credit+s.pending {
			continue // paid, waiting to be stored
		}
		s.deadline = now.Add(b.cfg.PaymentTimeout)
		out = append(out, Overdue{Conn: s.id, Addr: s.addr, Ban: b.Strike(s.addr, now)})
	}
	window := b.cfg.Strikes.Window
	if window <= 0 {
		window = StrikeWindow
	}
	for _, a := range b.accounts {
		kept := a.dead[:0]
		for _, s := range a.dead {
			if now.Sub(s.diedAt) < window {
				kept = append(kept, s)
			}
		}
		a.dead = kept
		b.setOwing(a, a.unpaid() > 0)
		if len(a.streams) == 0 && len(a.dead) == 0 && now.Sub(a.last) > window {
			delete(b.accounts, a.id)
		}
	}
	return out
}

// Defaulted reports whether connection id missed a deadline and still owes: no slot of any
// kind until it pays.
func (b *Book) Defaulted(id ConnID, now time.Time) bool {
	s := b.conns[id]
	return s != nil && len(s.entries) > 0 && now.After(s.entries[0].at.Add(b.cfg.PaymentTimeout)) && !s.withdrew
}

// Banned reports whether addr is banned for not paying.
func (b *Book) Banned(addr netip.Addr, now time.Time) bool {
	st := b.strikes[addr.Unmap()]
	return st != nil && st.Banned(now)
}

// Exposure returns the account's exposure as connection id sees it: unpaid billable bytes
// over all the account's connections plus what started pieces may still send.
func (b *Book) Exposure(id ConnID) uint64 {
	s := b.conns[id]
	if s == nil {
		return 0
	}
	return s.acct.exposure()
}

// Unpaid returns the billable bytes sent to the account of connection id and not yet paid.
func (b *Book) Unpaid(id ConnID) uint64 {
	s := b.conns[id]
	if s == nil {
		return 0
	}
	return s.acct.unpaid()
}

// Owed returns what connection id was billed in total and what is still unpaid (amounts).
func (b *Book) Owed(id ConnID) (total, unpaid uint64) {
	s := b.conns[id]
	if s == nil {
		return 0, 0
	}
	for _, e := range s.entries {
		unpaid += e.amount
	}
	return s.meter.Total(), unpaid - min(unpaid, s.credit)
}

// Peers returns the live connections sharing connection id's account (itself included).
func (b *Book) Peers(id ConnID) []ConnID {
	s := b.conns[id]
	if s == nil {
		return nil
	}
	ids := make([]ConnID, 0, len(s.acct.streams))
	for o := range s.acct.streams {
		ids = append(ids, o.id)
	}
	return ids
}
