package bidext

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
)

// bytePrice makes one byte cost one base unit, so amounts and bytes read the same.
const bytePrice = PriceDataBytes

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
	torX  = [20]byte{1}
	torY  = [20]byte{2}
)

// testChannel is a requester's key and a channel of deposit units towards a provider.
type testChannel struct {
	key   *channel.PrivateKey
	st    channel.State
	payer *channel.Payer
}

func newTestChannel(t *testing.T, key *channel.PrivateKey, deposit uint64) *testChannel {
	t.Helper()
	if key == nil {
		var err error
		if key, err = channel.GenerateKey(); err != nil {
			t.Fatal(err)
		}
	}
	payee, err := channel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	o := channel.Open{Payer: key.Public(), Payee: payee.Public(), Amount: deposit, Nonce: rand.Uint64(), Expiry: uint64(t0.Add(2 * time.Hour).Unix())}
	p, err := channel.NewPayer(key, &o)
	if err != nil {
		t.Fatal(err)
	}
	return &testChannel{key: key, payer: p, st: channel.State{ID: o.ID(), Payer: o.Payer, Payee: o.Payee, Deposit: deposit, Expiry: o.Expiry}}
}

func (c *testChannel) pay(t *testing.T, amount uint64) channel.SignedVoucher {
	t.Helper()
	v, err := c.payer.Pay(amount, 0)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const piece = 256 << 10

func serveN(b *Book, id ConnID, tor [20]byte, first, n int, now time.Time) (served int) {
	for i := first; i < first+n; i++ {
		for blk := 0; blk < piece/(16<<10); blk++ {
			if !b.Serve(id, PieceRef{tor, uint32(i)}, piece, piece, 16<<10, bytePrice, now) {
				return served
			}
		}
		served++
	}
	return served
}

func payOn(t *testing.T, b *Book, id ConnID, c *testChannel, amount uint64, now time.Time) {
	t.Helper()
	acc, err := b.Voucher(id, nil, c.pay(t, amount), now)
	if err != nil {
		t.Fatal(err)
	}
	b.Credit(acc)
}

func TestUnpaidLimit(t *testing.T) {
	for _, c := range []struct {
		pieceLen int64
		want     uint64
	}{{16 << 10, 4 << 20}, {2 << 20, 4 << 20}, {4 << 20, 8 << 20}, {16 << 20, 32 << 20}} {
		if got := UnpaidLimit(c.pieceLen); got != c.want {
			t.Errorf("UnpaidLimit(%d) = %d, want %d", c.pieceLen, got, c.want)
		}
	}
}

// A requester streams up to the bound, is held there, and resumes as its vouchers come.
func TestBookBoundAndPayment(t *testing.T) {
	b := NewBook(BookConfig{})
	b.Connect(1, addrA, t0)
	c := newTestChannel(t, nil, 1<<30)
	if _, err := b.Name(1, c.st, t0); err != nil {
		t.Fatal(err)
	}
	if got := serveN(b, 1, torX, 0, 100, t0); got != MinUnpaidLimit/piece {
		t.Fatalf("served %d pieces unpaid, want %d", got, MinUnpaidLimit/piece)
	}
	if b.Serve(1, PieceRef{torX, 99}, piece, piece, 16<<10, bytePrice, t0) {
		t.Fatal("served past the bound")
	}
	payOn(t, b, 1, c, piece, t0) // one piece paid: one more piece may go
	if got := serveN(b, 1, torX, 16, 100, t0); got != 1 {
		t.Fatalf("after paying one piece, served %d more, want 1", got)
	}
	if u := b.Unpaid(1); u != MinUnpaidLimit {
		t.Fatalf("unpaid %d, want %d", u, MinUnpaidLimit)
	}
	payOn(t, b, 1, c, MinUnpaidLimit, t0)
	if u := b.Unpaid(1); u != 0 {
		t.Fatalf("paid in full, unpaid %d", u)
	}
	if ch, strike, _ := b.Disconnect(1, t0); strike || ch != c.st.ID {
		t.Fatalf("paid-up disconnect: strike %v, channel to settle %v", strike, ch)
	}
}

// One voucher sent on two connections (and two torrents) counts once: the channel is used by
// one connection at a time, and its state is shared, so a replay is stale.
func TestBookReplayAcrossConnections(t *testing.T) {
	b := NewBook(BookConfig{})
	c := newTestChannel(t, nil, 1<<30)
	b.Connect(1, addrA, t0) // torrent X
	b.Connect(2, addrB, t0) // torrent Y, another address, same key
	if _, err := b.Name(1, c.st, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Name(2, c.st, t0); !errors.Is(err, ErrChannelInUse) {
		t.Fatalf("second connection named a channel in use: %v", err)
	}
	serveN(b, 1, torX, 0, 1, t0)
	v := c.pay(t, piece)
	acc, err := b.Voucher(1, nil, v, t0)
	if err != nil {
		t.Fatal(err)
	}
	b.Credit(acc)
	if _, err := b.Voucher(2, nil, v, t0); !errors.Is(err, ErrNoChannel) {
		t.Fatalf("voucher on a connection that did not name the channel: %v", err)
	}
	// The first connection goes; the second takes the channel over and replays the voucher.
	b.Disconnect(1, t0)
	if _, err := b.Name(2, c.st, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Voucher(2, nil, v, t0); !errors.Is(err, channel.ErrStaleSequence) {
		t.Fatalf("replayed voucher: %v, want stale sequence", err)
	}
	// Both connections' data counts against the one key: torrent Y gets only what is left.
	b.Connect(3, addrA, t0)
	c3 := *c
	if _, err := b.Name(3, c3.st, t0); !errors.Is(err, ErrChannelInUse) {
		t.Fatalf("third connection: %v", err)
	}
	st, _ := b.Channel(c.st.ID)
	if st.Cumulative != piece {
		t.Fatalf("channel cumulative %d, want %d (counted once)", st.Cumulative, piece)
	}
}

// The exposure is per key across torrents and connections, once a voucher proved the key.
func TestBookExposureAcrossTorrents(t *testing.T) {
	b := NewBook(BookConfig{})
	key, _ := channel.GenerateKey()
	c1, c2 := newTestChannel(t, key, 1<<30), newTestChannel(t, key, 1<<30)
	b.Connect(1, addrA, t0)
	b.Connect(2, addrB, t0)
	b.Name(1, c1.st, t0)
	b.Name(2, c2.st, t0)
	payOn(t, b, 1, c1, 0, t0) // the first voucher, of 0, proves the key
	payOn(t, b, 2, c2, 0, t0)
	got := serveN(b, 1, torX, 0, 10, t0) + serveN(b, 2, torY, 0, 100, t0)
	if got != MinUnpaidLimit/piece {
		t.Fatalf("served %d pieces over two torrents, want %d", got, MinUnpaidLimit/piece)
	}
}

// Win a slot, take pieces, disconnect without paying, reconnect with a new connection:
// the debt stays on the address, each disconnect owing is a strike, the third bans.
func TestBookReconnectLoop(t *testing.T) {
	b := NewBook(BookConfig{})
	var total int
	for i := 1; i <= 5; i++ {
		now := t0.Add(time.Duration(i) * time.Minute)
		if b.Banned(addrA, now) {
			if i != 4 {
				t.Fatalf("banned before round %d", i)
			}
			break
		}
		id := ConnID(i)
		b.Connect(id, addrA, now)
		total += serveN(b, id, torX, i*100, 100, now)
		_, strike, ban := b.Disconnect(id, now)
		if !strike {
			t.Fatalf("round %d: disconnect owing is no strike", i)
		}
		if ban != (i == 3) {
			t.Fatalf("round %d: ban %v", i, ban)
		}
	}
	if total != MinUnpaidLimit/piece {
		t.Fatalf("reconnect loop got %d pieces, want the bound, %d", total, MinUnpaidLimit/piece)
	}
	// After the strike window the dead debts are forgotten.
	later := t0.Add(3 * time.Hour)
	b.Tick(later, nil)
	b.Connect(9, addrA, later)
	if serveN(b, 9, torX, 0, 1, later) != 1 {
		t.Fatal("old debts still counted after the strike window")
	}
}

// A key-rotating address gets at most PaidPerAddress bounds at once.
func TestBookPaidPerAddress(t *testing.T) {
	b := NewBook(BookConfig{PaidPerAddress: 2})
	var got int
	for i := 1; i <= 4; i++ {
		b.Connect(ConnID(i), addrA, t0)
		c := newTestChannel(t, nil, 1<<30)
		b.Name(ConnID(i), c.st, t0)
		payOn(t, b, ConnID(i), c, 0, t0)
		got += serveN(b, ConnID(i), torX, i*100, 100, t0)
	}
	if got != 2*MinUnpaidLimit/piece {
		t.Fatalf("four keys on one address got %d pieces, want %d", got, 2*MinUnpaidLimit/piece)
	}
}

// A payment deadline runs from the send; missing it is a strike; withdrawing the bid
// (cannot pay) is not.
func TestBookDeadlines(t *testing.T) {
	b := NewBook(BookConfig{PaymentTimeout: 30 * time.Second})
	b.Connect(1, addrA, t0)
	b.Connect(2, addrB, t0)
	serveN(b, 1, torX, 0, 1, t0)
	serveN(b, 2, torX, 0, 1, t0)
	if o := b.Tick(t0.Add(29*time.Second), []ConnID{1, 2}); len(o) != 0 {
		t.Fatalf("overdue before the deadline: %v", o)
	}
	b.Withdraw(2)
	o := b.Tick(t0.Add(31*time.Second), []ConnID{1, 2})
	if len(o) != 1 || o[0].Conn != 1 || o[0].Ban {
		t.Fatalf("overdue: %+v, want conn 1 only", o)
	}
	if !b.Defaulted(1, t0.Add(31*time.Second)) || b.Defaulted(2, t0.Add(31*time.Second)) {
		t.Fatal("defaulted flags wrong")
	}
	if o := b.Tick(t0.Add(40*time.Second), []ConnID{1, 2}); len(o) != 0 {
		t.Fatalf("struck twice within a timeout: %v", o)
	}
	if _, strike, _ := b.Disconnect(2, t0.Add(time.Minute)); strike {
		t.Fatal("a requester that withdrew its bid was struck on leaving")
	}
	// A withdrawn requester owes on a fresh deadline when it bids again.
	b.Connect(3, addrB, t0.Add(2*time.Minute))
	if serveN(b, 3, torX, 10, 1, t0.Add(2*time.Minute)) != 1 {
		t.Fatal("not served")
	}
}

// A settlement racing a voucher: once the settlement started, the channel takes no voucher
// and no connection may name it.
func TestBookSettlementRace(t *testing.T) {
	b := NewBook(BookConfig{})
	c := newTestChannel(t, nil, 1<<30)
	b.Connect(1, addrA, t0)
	b.Name(1, c.st, t0)
	serveN(b, 1, torX, 0, 2, t0)
	payOn(t, b, 1, c, piece, t0)
	last, payer, ok := b.Settle(c.st.ID)
	if !ok || last == nil || last.Cumulative != piece || payer != c.st.Payer {
		t.Fatalf("settle: %v %v", last, ok)
	}
	if _, err := b.Voucher(1, nil, c.pay(t, piece), t0); !errors.Is(err, ErrChannelClosing) {
		t.Fatalf("voucher during settlement: %v", err)
	}
	b.Connect(2, addrA, t0)
	if _, err := b.Name(2, c.st, t0); !errors.Is(err, ErrChannelClosing) {
		t.Fatalf("naming a settling channel: %v", err)
	}
	if _, _, ok := b.Settle(c.st.ID); ok {
		t.Fatal("settled twice")
	}
	// The requester moves to a new channel and pays the rest there.
	c2 := newTestChannel(t, c.key, 1<<30)
	if _, err := b.Name(1, c2.st, t0); err != nil {
		t.Fatal(err)
	}
	payOn(t, b, 1, c2, piece, t0)
	if u := b.Unpaid(1); u != 0 {
		t.Fatalf("unpaid %d after paying on the new channel", u)
	}
}

// A voucher counts only once stored: a disconnect with one in flight to the store is no strike.
func TestBookPendingCredit(t *testing.T) {
	b := NewBook(BookConfig{})
	c := newTestChannel(t, nil, 1<<30)
	b.Connect(1, addrA, t0)
	b.Name(1, c.st, t0)
	serveN(b, 1, torX, 0, 1, t0)
	if _, err := b.Voucher(1, nil, c.pay(t, piece), t0); err != nil {
		t.Fatal(err)
	}
	if b.Unpaid(1) != piece {
		t.Fatal("a voucher not yet stored counted")
	}
	if _, strike, _ := b.Disconnect(1, t0); strike {
		t.Fatal("struck while its payment was being stored")
	}
}

// Unserve gives back data that never went out.
func TestBookUnserve(t *testing.T) {
	b := NewBook(BookConfig{})
	b.Connect(1, addrA, t0)
	p := PieceRef{torX, 0}
	for i := 0; i < 4; i++ {
		b.Serve(1, p, piece, piece, 16<<10, bytePrice/3, t0)
	}
	b.Unserve(1, p, 16<<10, bytePrice/3)
	b.Unserve(1, p, 16<<10, bytePrice/3)
	total, unpaid := b.Owed(1)
	want, _ := Owed(bytePrice/3, 32<<10)
	if total != want || unpaid != want {
		t.Fatalf("owed %d unpaid %d, want %d", total, unpaid, want)
	}
	if b.Exposure(1) != piece {
		t.Fatalf("exposure %d, want the reserved piece %d", b.Exposure(1), piece)
	}
}

// TestBookExposureProperty: for random interleavings of connections (several torrents,
// addresses and reconnects of one requester key), sends, drops, HAVEs, partial payments and
// disconnects, the data served and not paid never exceeds the bound per account: the key's
// (connections that paid a voucher, which proves the key) and each address's (the others).
func TestBookExposureProperty(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		b := NewBook(BookConfig{})
		key, _ := channel.GenerateKey()
		type conn struct {
			id    ConnID
			ch    *testChannel
			tor   [20]byte
			addr  netip.Addr
			named bool
			keyed bool   // a voucher was accepted: billed on the key's account
			got   uint64 // billable bytes served on it, net of drops
			pd    uint64 // paid on it
		}
		var live, all []*conn
		next := ConnID(1)
		now := t0
		bound := uint64(MinUnpaidLimit)
		for step := 0; step < 400; step++ {
			now = now.Add(time.Duration(r.IntN(3)) * time.Second)
			switch op := r.IntN(10); {
			case op == 0 || len(live) == 0:
				c := &conn{id: next, ch: newTestChannel(t, key, 1<<40), tor: [20]byte{byte(r.IntN(3))}, addr: []netip.Addr{addrA, addrB}[r.IntN(2)]}
				next++
				b.Connect(c.id, c.addr, now)
				if r.IntN(4) > 0 {
					if _, err := b.Name(c.id, c.ch.st, now); err != nil {
						t.Fatal(err)
					}
					c.named = true
				}
				live, all = append(live, c), append(all, c)
			case op <= 5:
				c := live[r.IntN(len(live))]
				p := PieceRef{c.tor, uint32(r.IntN(30))}
				n := uint32(1 + r.IntN(16<<10))
				if b.Serve(c.id, p, piece, piece, n, bytePrice, now) {
					c.got += uint64(n)
				}
			case op == 6:
				c := live[r.IntN(len(live))]
				b.Have(c.id, PieceRef{c.tor, uint32(r.IntN(30))})
			case op <= 8:
				c := live[r.IntN(len(live))]
				if c.named && c.got >= c.pd {
					amt := r.Uint64N(c.got - c.pd + 1)
					acc, err := b.Voucher(c.id, nil, c.ch.pay(t, amt), now)
					if err != nil {
						t.Fatal(err)
					}
					b.Credit(acc)
					c.pd += amt
					c.keyed = true
				}
			default:
				i := r.IntN(len(live))
				b.Disconnect(live[i].id, now)
				live = append(live[:i], live[i+1:]...)
			}
			unpaid := map[string]uint64{}
			for _, c := range all {
				acc := c.addr.String()
				if c.keyed {
					acc = "key"
				}
				unpaid[acc] += c.got - c.pd
			}
			for acc, u := range unpaid {
				if u > bound {
					t.Fatalf("seed %d step %d: account %s has %d served unpaid, bound %d", seed, step, acc, u, bound)
				}
			}
		}
	}
}

// TestBookTablesBounded: accounts, channels and a connection's unpaid sends stay within their
// stated bounds whatever the requesters do.
func TestBookTablesBounded(t *testing.T) {
	b := NewBook(BookConfig{MaxAccounts: 8, MaxChannels: 4})
	for i := range 100 {
		id := ConnID(i + 1)
		b.Connect(id, netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), t0)
		serveN(b, id, torX, 0, 1, t0)
		b.Disconnect(id, t0)
	}
	if n := len(b.accounts); n > 8 {
		t.Fatalf("%d accounts, bound 8", n)
	}
	b.Connect(1000, addrA, t0)
	var err error
	for i := range 5 {
		b.Connect(ConnID(2000+i), addrB, t0)
		_, err = b.Name(ConnID(2000+i), newTestChannel(t, nil, 1<<30).st, t0)
	}
	if !errors.Is(err, ErrTooManyChannel) || len(b.channels) != 4 {
		t.Fatalf("fifth channel: %v, %d tracked", err, len(b.channels))
	}
	for range 3 * MaxStreamEntries {
		b.Serve(1000, PieceRef{torY, 0}, 16<<20, 16<<20, 1, bytePrice, t0) // one-byte requests
	}
	if s := b.conns[1000]; len(s.entries) > MaxStreamEntries || s.unpaidBytes() != 3*MaxStreamEntries {
		t.Fatalf("%d entries holding %d bytes", len(s.entries), s.unpaidBytes())
	}
}

// Naming someone else's channel (its id is public on the ledger) does not charge their
// account: only a valid voucher moves a connection to a key's account.
func TestBookNamingIsNotProof(t *testing.T) {
	b := NewBook(BookConfig{})
	victim := newTestChannel(t, nil, 1<<30)
	b.Connect(1, addrA, t0)
	b.Name(1, victim.st, t0)
	payOn(t, b, 1, victim, 0, t0)
	serveN(b, 1, torX, 0, 1, t0)
	payOn(t, b, 1, victim, piece, t0)
	b.Disconnect(1, t0)
	b.Connect(2, addrB, t0) // the attacker names the victim's channel
	if _, err := b.Name(2, victim.st, t0); err != nil {
		t.Fatal(err)
	}
	if got := serveN(b, 2, torX, 0, 100, t0); got != MinUnpaidLimit/piece {
		t.Fatalf("attacker served %d pieces", got)
	}
	b.Connect(3, addrA, t0) // the victim comes back on a new channel
	c2 := newTestChannel(t, victim.key, 1<<30)
	b.Name(3, c2.st, t0)
	payOn(t, b, 3, c2, 0, t0)
	if got := serveN(b, 3, torY, 0, 100, t0); got != MinUnpaidLimit/piece {
		t.Fatalf("the victim got %d pieces: the attacker's debt was charged to it", got)
	}
}
