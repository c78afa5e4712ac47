package conformance

// Hostile requesters against a Speed seeder (issue 12): raw sockets that speak the Speed
// messages and cheat on payment. The seeder is our session; the ledger is a real btt-ledger.

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/internal/ledgertest"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
)

// rawRequester is one hostile connection to a Speed seeder.
type rawRequester struct {
	nc      net.Conn
	r       *wire.Reader
	speedID uint8 // the seeder's id for bt_speed
	mi      *metainfo.MetaInfo

	price    uint64 // from the last bid-response; 0 before
	unchoked bool
	paidData int64 // piece bytes received after a bid-response
	speed    []wire.SpeedMessage
}

// dialRaw connects from localIP with a fresh peer id, exchanges handshakes advertising
// Speed, says it is interested, and bids.
func dialRaw(ctx context.Context, seeder, localIP string, mi *metainfo.MetaInfo, bid uint64) (*rawRequester, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	nc, err := d.DialContext(ctx, "tcp", seeder)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	if err := rawHandshake(nc, mi.InfoHash(), false); err != nil {
		return nil, err
	}
	rr := &rawRequester{nc: nc, r: wire.NewReader(nc, 0), mi: mi}
	var out []byte
	out = wire.AppendMessage(out, wire.Message{Type: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: speedHandshake()})
	out = wire.AppendMessage(out, wire.Message{Type: wire.Interested})
	if _, err := nc.Write(out); err != nil {
		nc.Close()
		return nil, err
	}
	for rr.speedID == 0 {
		if _, err := rr.next(); err != nil {
			nc.Close()
			return nil, err
		}
	}
	if err := rr.sendSpeed(wire.SpeedMessage{Type: wire.SpeedBid, Price: bid}); err != nil {
		nc.Close()
		return nil, err
	}
	return rr, nil
}

func (rr *rawRequester) sendSpeed(m wire.SpeedMessage) error {
	p, err := wire.AppendSpeedMessage(nil, m)
	if err != nil {
		return err
	}
	_, err = rr.nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: rr.speedID, Payload: p}))
	return err
}

// next reads one message and updates the state; piece payloads are read and dropped.
func (rr *rawRequester) next() (wire.Message, error) {
	m, err := rr.r.ReadHeader()
	if err != nil {
		return m, err
	}
	switch m.Type {
	case wire.Extended:
		switch m.ExtID {
		case wire.ExtHandshakeID:
			eh, err := wire.ParseExtendedHandshake(m.Payload)
			if err != nil {
				return m, err
			}
			id, _, ok := wire.SpeedAdvertised(eh.M, eh.Extra)
			if !ok {
				return m, errors.New("seeder does not advertise Speed")
			}
			rr.speedID = uint8(id)
		case speedOurExtID:
			sm, err := wire.ParseSpeedMessage(m.Payload)
			if err != nil {
				return m, err
			}
			if sm.Type == wire.SpeedBidResponse {
				rr.price = sm.Price
			}
			rr.speed = append(rr.speed, sm)
		}
	case wire.Choke:
		rr.unchoked = false
	case wire.Unchoke:
		rr.unchoked = true
	case wire.Piece:
		if err := rr.r.ReadPayload(make([]byte, m.Length)); err != nil {
			return m, err
		}
		if rr.price > 0 {
			rr.paidData += int64(m.Length)
		}
	}
	return m, nil
}

// waitPaidSlot reads until the seeder unchoked us under a bid-response price.
func (rr *rawRequester) waitPaidSlot() error {
	for rr.price == 0 || !rr.unchoked {
		if _, err := rr.next(); err != nil {
			return err
		}
	}
	return nil
}

// takePieces requests every block of pieces [first, first+n) and reads until they came or
// nothing more comes for idle (the seeder holds them back, or chokes us).
func (rr *rawRequester) takePieces(first, n int, idle time.Duration) (got int64, err error) {
	pl := int(rr.mi.Info.PieceLength)
	var req []byte
	want := 0
	for i := first; i < first+n; i++ {
		for b := 0; b < pl; b += 16 << 10 {
			req = wire.AppendMessage(req, wire.Message{Type: wire.Request, Index: uint32(i), Begin: uint32(b), Length: 16 << 10})
			want++
		}
	}
	if _, err := rr.nc.Write(req); err != nil {
		return 0, err
	}
	before := rr.paidData
	for blocks := 0; blocks < want; {
		rr.nc.SetReadDeadline(time.Now().Add(idle))
		m, err := rr.next()
		if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
			break
		}
		if err != nil {
			return rr.paidData - before, err
		}
		if m.Type == wire.Piece || m.Type == wire.Reject {
			blocks++
		}
	}
	return rr.paidData - before, nil
}

// TestPayAttackVoucherReplay: a requester opens one channel, connects twice with different
// peer ids and addresses, names the channel on both and sends the same voucher on both. The
// second connection is refused the channel and the voucher; the seeder earns the voucher
// once and the ledger pays it once.
func TestPayAttackVoucherReplay(t *testing.T) {
	url, cl, treasury := startLedger(t)
	const pieceLen = 64 << 10
	dir := t.TempDir()
	mi, _ := makeTorrent(t, dir, "replay", []thirdparty.File{{Path: "r.bin", Size: 16 << 20}}, pieceLen, false)
	seedKey := ledgertest.FundedKey(t, cl, treasury, 0)
	sc := speedWith(seedKey, url, 0)
	sc.Reserve = bidext.ReserveConfig{Curve: bidext.Linear, Start: bidext.UnitsPerBTT, Cap: bidext.UnitsPerBTT}
	seeder := startSessionCfg(t, "127.0.0.1", peer.Config{
		Settings: peer.Settings{UploadSlots: 2, RechokeInterval: 200 * time.Millisecond, PaymentTimeout: 3 * time.Second},
		Speed:    sc,
	})
	st := addTorrent(t, seeder, mi, dir)
	attacker := ledgertest.FundedKey(t, cl, treasury, 10*bidext.UnitsPerBTT)
	ctx := ctxFor(t, 60*time.Second)
	lch, err := cl.OpenChannel(ctx, attacker, seedKey.Public(), bidext.UnitsPerBTT, time.Now().Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	lid, err := cl.LedgerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := channel.Open{Ledger: lid, Payer: attacker.Public(), Payee: seedKey.Public(), Amount: uint64(lch.Amount), Nonce: uint64(lch.Nonce), Expiry: uint64(lch.Expiry)}
	payer, err := channel.NewPayer(attacker, &o)
	if err != nil {
		t.Fatal(err)
	}
	a, err := dialRaw(ctx, seeder.Addr().String(), "127.0.0.21", mi, bidext.UnitsPerBTT)
	if err != nil {
		t.Fatal(err)
	}
	defer a.nc.Close()
	b, err := dialRaw(ctx, seeder.Addr().String(), "127.0.0.22", mi, bidext.UnitsPerBTT)
	if err != nil {
		t.Fatal(err)
	}
	defer b.nc.Close()
	for _, rr := range []*rawRequester{a, b} {
		if err := rr.waitPaidSlot(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.sendSpeed(wire.SpeedMessage{Type: wire.SpeedChannelOpen, Channel: payer.Channel()}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the seeder looks the channel up on the ledger
	if err := b.sendSpeed(wire.SpeedMessage{Type: wire.SpeedChannelOpen, Channel: payer.Channel()}); err != nil {
		t.Fatal(err)
	}
	// One piece on each connection, one piece's payment.
	if _, err := a.takePieces(0, 1, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := b.takePieces(1, 1, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	amount, _ := bidext.Owed(a.price, pieceLen)
	v, err := payer.Pay(amount, 0)
	if err != nil {
		t.Fatal(err)
	}
	vm := wire.SpeedMessage{Type: wire.SpeedVoucher, Sig: v.Sig}
	layout, _ := v.Voucher.AppendBinary(nil)
	copy(vm.Voucher[:], layout)
	for _, rr := range []*rawRequester{a, b} {
		if err := rr.sendSpeed(vm); err != nil {
			t.Fatal(err)
		}
	}
	verdict := func(rr *rawRequester) (ack, reject bool) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			for _, m := range rr.speed {
				ack = ack || m.Type == wire.SpeedPaymentAck
				reject = reject || m.Type == wire.SpeedPaymentReject
			}
			if ack || reject {
				return
			}
			rr.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			rr.next()
		}
		return
	}
	if ack, _ := verdict(a); !ack {
		t.Error("the channel's own connection got no ack")
	}
	if ack, reject := verdict(b); ack || !reject {
		t.Errorf("the replay on a second connection: ack %v, reject %v; want a reject", ack, reject)
	}
	a.nc.Close()
	b.nc.Close()
	for deadline := time.Now().Add(20 * time.Second); st.Stats().Settled == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never settled: %+v", st.Stats())
		}
	}
	time.Sleep(time.Second)
	ss := st.Stats()
	paid, closes := paidTo(t, cl, seedKey.Address())
	t.Logf("one voucher of %d sent on two connections: earned %d, settled %d, ledger paid %d in %d close(s)", amount, ss.Earned, ss.Settled, paid, closes)
	if ss.Earned != int64(amount) || ss.Settled != int64(amount) || paid != amount || closes != 1 {
		t.Errorf("earned %d, settled %d, paid %d over %d closes; want %d once", ss.Earned, ss.Settled, paid, closes, amount)
	}
}

// TestPayAttackReconnectForFree: win a paid slot, take pieces, leave without HAVE or
// payment, come back with a new peer id, again and again. The debt stays with the address
// across connections, each departure owing is a strike and the third bans it: the seeder
// loses at most the exposure bound, while an honest paying leecher downloads throughout.
func TestPayAttackReconnectForFree(t *testing.T) {
	url, cl, treasury := startLedger(t)
	const pieceLen = 64 << 10
	dir := t.TempDir()
	mi, _ := makeTorrent(t, dir, "free", []thirdparty.File{{Path: "f.bin", Size: 12 << 20}}, pieceLen, false)
	seedKey := ledgertest.FundedKey(t, cl, treasury, 0)
	sc := speedWith(seedKey, url, 0)
	sc.Reserve = bidext.ReserveConfig{Curve: bidext.Linear, Start: bidext.UnitsPerBTT, Cap: bidext.UnitsPerBTT}
	seeder := startSessionCfg(t, "127.0.0.1", peer.Config{
		Settings: peer.Settings{UploadSlots: 2, RechokeInterval: 200 * time.Millisecond, UploadRateLimit: 4 << 20},
		Speed:    sc,
	})
	st := addTorrent(t, seeder, mi, dir)
	honestKey := ledgertest.FundedKey(t, cl, treasury, 100*bidext.UnitsPerBTT)
	hs := startSessionCfg(t, "127.0.0.31", peer.Config{Speed: speedWith(honestKey, url, 100*bidext.UnitsPerBTT)})
	ht := addTorrent(t, hs, mi, t.TempDir(), seeder.Addr().String())

	ctx := ctxFor(t, 90*time.Second)
	var stolen int64
	rounds, banned := 0, false
	for round := 0; round < 10 && !banned; round++ {
		rr, err := dialRaw(ctx, seeder.Addr().String(), "127.0.0.32", mi, 50*bidext.UnitsPerBTT)
		if err != nil {
			banned = true // refused: the address is banned
			break
		}
		if err := rr.waitPaidSlot(); err != nil {
			rr.nc.Close()
			banned = errors.Is(err, io.EOF) || isReset(err)
			if !banned {
				t.Fatalf("round %d: %v", round, err)
			}
			break
		}
		got, _ := rr.takePieces(round*40, 40, time.Second) // 2.5 MiB a round: the bound binds in the second
		stolen += got
		rounds++
		rr.nc.Close() // no HAVE, no payment
		time.Sleep(300 * time.Millisecond)
	}
	waitOurs(t, ht, time.Minute)
	ss := st.Stats()
	limit := int64(bidext.UnpaidLimit(pieceLen))
	t.Logf("attacker: %d rounds took %d bytes under paid terms (bound %d); seeder: %d payment failures, %d banned; honest leecher complete, spent %d",
		rounds, stolen, limit, ss.PaymentFailures, ss.Banned, ht.Stats().Spent)
	if stolen > limit {
		t.Errorf("the reconnect loop took %d unpaid bytes, over the bound %d", stolen, limit)
	}
	if !banned || ss.Banned == 0 {
		t.Errorf("after %d rounds the attacker is not banned (seeder %+v)", rounds, ss)
	}
	if ht.Stats().Spent == 0 {
		t.Error("the honest leecher paid nothing: it was not served under paid terms")
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

// TestCannotPayNotStruck: a requester whose wallet cannot fund a channel (its budget says
// it may bid, its balance is empty) wins a slot, fails to open a channel, withdraws its bid
// ("cannot pay") and is choked out of its paid slot without a strike or a ban; it still
// downloads, on the free slots, what it cannot buy.
func TestCannotPayNotStruck(t *testing.T) {
	url, cl, treasury := startLedger(t)
	dir := t.TempDir()
	mi, _ := makeTorrent(t, dir, "poor", []thirdparty.File{{Path: "p.bin", Size: 4 << 20}}, 64<<10, false)
	seedKey := ledgertest.FundedKey(t, cl, treasury, 0)
	sc := speedWith(seedKey, url, 0)
	sc.Reserve = bidext.ReserveConfig{Curve: bidext.Linear, Start: bidext.UnitsPerBTT, Cap: bidext.UnitsPerBTT}
	seeder := startSessionCfg(t, "127.0.0.1", peer.Config{
		Settings: peer.Settings{RechokeInterval: 200 * time.Millisecond, PaymentTimeout: time.Second, UploadRateLimit: 1 << 20},
		Speed:    sc,
	})
	st := addTorrent(t, seeder, mi, dir)
	poor := ledgertest.FundedKey(t, cl, treasury, 0)
	lc := speedWith(poor, url, 0)
	lc.Budget = 10 * bidext.UnitsPerBTT // the budget is not money: the balance is 0
	ls := startSessionCfg(t, "127.0.0.41", peer.Config{Speed: lc})
	lt := addTorrent(t, ls, mi, t.TempDir(), seeder.Addr().String())
	waitOurs(t, lt, 2*time.Minute)
	s, ss := lt.Stats(), st.Stats()
	t.Logf("requester: %d withdrawals, %d vouchers; seeder: %d auction unchokes, %d payment failures, %d banned", s.Withdrawals, s.VouchersSent, ss.AuctionUnchokes, ss.PaymentFailures, ss.Banned)
	if s.Withdrawals == 0 || ss.AuctionUnchokes == 0 {
		t.Fatalf("the scenario did not happen: %d withdrawals, %d auction unchokes", s.Withdrawals, ss.AuctionUnchokes)
	}
	if ss.PaymentFailures != 0 || ss.Banned != 0 {
		t.Errorf("a requester that cannot pay was struck %d times, banned %d", ss.PaymentFailures, ss.Banned)
	}
}
