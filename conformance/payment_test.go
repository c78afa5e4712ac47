package conformance

import (
	"context"

	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/internal/ledgertest"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
)

// startLedger runs a real btt-ledger on loopback and returns its URL, a client and the
// treasury key (which holds the genesis supply).
func startLedger(t *testing.T) (string, *ledger.Client, *channel.PrivateKey) {
	t.Helper()
	bin := testutil.BuildCmd(t, "btt-ledger")
	db := filepath.Join(t.TempDir(), "ledger.db")
	addr := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
	startBackground(t, exec.Command(bin, "--listen", addr, "--db", db))
	url := "http://" + addr
	cl := ledger.NewClient(url, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cl.Info(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tk, err := wallet.Load(db+".treasury.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	return url, cl, tk
}

func speedWith(key *channel.PrivateKey, url string, balance uint64) peer.SpeedConfig {
	s := bidext.DefaultSettings()
	s.Enabled = true
	s.Reserve = bidext.ReserveConfig{} // no reserve: every bid is eligible
	return peer.SpeedConfig{Settings: s, Wallet: key, Ledger: url, Balance: func() uint64 { return balance }}
}

func balanceOf(t *testing.T, cl *ledger.Client, a channel.Address) uint64 {
	t.Helper()
	acct, err := cl.Balance(ctxFor(t, 10*time.Second), a)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(acct.Balance)
}

// TestPaymentsEndToEnd: a Speed seeder with two slots and four bidding leechers whose wallets
// are funded on a real ledger. Winners open channels, pay a voucher per verified piece, the
// seeder settles when they leave; what the seeder earned equals what the leechers promised,
// the ledger paid it exactly that, and the ledger's total is still the genesis supply.
func TestPaymentsEndToEnd(t *testing.T) {
	url, cl, treasury := startLedger(t)
	const btt = bidext.UnitsPerBTT
	seedKey := ledgertest.FundedKey(t, cl, treasury, 0)
	dir := t.TempDir()
	mi, _ := makeTorrent(t, dir, "paid", []thirdparty.File{{Path: "p.bin", Size: 6 << 20}}, 64<<10, false)
	seeder := startSessionCfg(t, "127.0.0.1", peer.Config{
		Settings: peer.Settings{UploadSlots: 2, RechokeInterval: 300 * time.Millisecond, UploadRateLimit: 3 << 20},
		Speed:    speedWith(seedKey, url, 0),
	})
	st := addTorrent(t, seeder, mi, dir)

	var leechers []*peer.Torrent
	var sessions []*peer.Session
	var keys []*channel.PrivateKey
	funds := []uint64{1000 * btt, 2000 * btt, 3000 * btt, 4000 * btt}
	for i, f := range funds {
		k := ledgertest.FundedKey(t, cl, treasury, f)
		s := startSessionCfg(t, "127.0.0."+string(rune('2'+i)), peer.Config{Speed: speedWith(k, url, f)})
		leechers = append(leechers, addTorrent(t, s, mi, t.TempDir(), seeder.Addr().String()))
		sessions = append(sessions, s)
		keys = append(keys, k)
	}
	for _, l := range leechers {
		waitOurs(t, l, 2*time.Minute)
	}
	// Let the last vouchers be acknowledged before the leechers leave.
	ackDeadline := time.Now().Add(10 * time.Second)
	for _, l := range leechers {
		for l.Stats().PaymentAcks < l.Stats().VouchersSent && time.Now().Before(ackDeadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	var spent int64
	for _, l := range leechers {
		s := l.Stats()
		spent += s.Spent
		t.Logf("leecher: spent %d units (%d promised) in %d vouchers over %d channel(s), %d acks", s.Spent, s.Promised, s.VouchersSent, s.ChannelsOpened, s.PaymentAcks)
	}
	// The leechers leave; the seeder settles their channels on the ledger.
	for _, s := range sessions {
		s.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for st.Stats().Settled < st.Stats().Earned || st.Stats().Earned < spent {
		if time.Now().After(deadline) {
			t.Fatalf("seeder settled %d of %d earned (leechers spent %d)", st.Stats().Settled, st.Stats().Earned, spent)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ss := st.Stats()
	t.Logf("seeder: %d auction unchokes, earned %d, settled %d, %d vouchers", ss.AuctionUnchokes, ss.Earned, ss.Settled, ss.VouchersAccepted)
	if ss.Earned == 0 || spent == 0 {
		t.Fatal("nothing was paid: the auction or the payment flow did not run")
	}
	if ss.Earned != spent {
		t.Errorf("seeder earned %d, leechers promised %d", ss.Earned, spent)
	}
	if got := balanceOf(t, cl, seedKey.Address()); got != uint64(ss.Settled) {
		t.Errorf("seeder's ledger balance %d, settled %d", got, ss.Settled)
	}
	var leecherTotal uint64
	for i, k := range keys {
		b := balanceOf(t, cl, k.Address())
		leecherTotal += b
		if b > funds[i] {
			t.Errorf("leecher %d has %d, more than its %d", i, b, funds[i])
		}
	}
	info, err := cl.Info(ctxFor(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if info.Total != info.Supply {
		t.Errorf("ledger total %d != genesis supply %d", info.Total, info.Supply)
	}
	var fundsTotal uint64
	for _, f := range funds {
		fundsTotal += f
	}
	// Tokens only moved between these wallets, or sit in channels still open until expiry.
	if leecherTotal+uint64(ss.Settled) > fundsTotal {
		t.Errorf("leechers hold %d and the seeder %d: more than the %d funded", leecherTotal, ss.Settled, fundsTotal)
	}
}

// TestNonPayerChokedThenBanned: a requester that wins the auction but never pays (will not
// pay: it keeps its bid) gets at most the exposure bound, bidext.UnpaidLimit (4 MiB here),
// is choked when the payment timeout passes, and is banned after repeated failures. (The
// bound was one piece; it is an amount now so that paying requesters stream while their
// vouchers are in flight.)
func TestNonPayerChokedThenBanned(t *testing.T) {
	url, cl, treasury := startLedger(t)
	seedKey := ledgertest.FundedKey(t, cl, treasury, 0)
	dir := t.TempDir()
	const pieceLen = 64 << 10
	seedSpeed := speedWith(seedKey, url, 0)
	// A reserve of 1 BTT/GiB: a lone bidder pays it, so nothing it gets is free.
	seedSpeed.Reserve = bidext.ReserveConfig{Curve: bidext.Linear, Start: bidext.UnitsPerBTT, Cap: bidext.UnitsPerBTT}
	mi, _ := makeTorrent(t, dir, "unpaid", []thirdparty.File{{Path: "u.bin", Size: 32 << 20}}, pieceLen, false)
	seeder := startSessionCfg(t, "127.0.0.1", peer.Config{
		Settings: peer.Settings{UploadSlots: 1, RechokeInterval: 200 * time.Millisecond, PaymentTimeout: time.Second, UploadRateLimit: 8 << 20},
		Speed:    seedSpeed,
	})
	st := addTorrent(t, seeder, mi, dir)
	// A bidder with no wallet: it bids, wins, and can never pay.
	free := speedWith(nil, url, 100*bidext.UnitsPerBTT)
	s := startSessionCfg(t, "127.0.0.9", peer.Config{Speed: free})
	lt := addTorrent(t, s, mi, t.TempDir(), seeder.Addr().String())
	// Until its first bid it is served free, like any peer; count from its first paid terms.
	deadline := time.Now().Add(30 * time.Second)
	var before int64
	for {
		st := lt.Speed()
		if len(st.Peers) == 1 && st.Peers[0].QuotedN > 0 {
			before = lt.Stats().Downloaded
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never won the auction: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for st.Stats().Banned == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("non-payer not banned: seeder %+v", st.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ss := st.Stats()
	got := lt.Stats().Downloaded - before
	t.Logf("under paid terms the non-payer got %d bytes (%.1f pieces) before its ban after %d payment failures", got, float64(got)/pieceLen, ss.PaymentFailures)
	if ss.PaymentFailures < 3 {
		t.Errorf("banned after %d payment failures, want 3", ss.PaymentFailures)
	}
	// The bound, plus blocks of the piece it was fetching when it won (requested under free
	// terms, served as they come).
	if limit := int64(bidext.UnpaidLimit(pieceLen)) + pieceLen; got > limit {
		t.Errorf("non-payer received %d bytes under paid terms without paying, more than %d", got, limit)
	}
}

// TestCorruptProviderNotPaid: a Speed seeder whose data went bad wins our bid and sends
// corrupt pieces; we pay nothing for them, ban it, and pay only the honest seeder.
func TestCorruptProviderNotPaid(t *testing.T) {
	url, cl, treasury := startLedger(t)
	reserve := bidext.ReserveConfig{Curve: bidext.Linear, Start: bidext.UnitsPerBTT, Cap: bidext.UnitsPerBTT}
	newSeeder := func(ip string) *peer.Session {
		sc := speedWith(ledgertest.FundedKey(t, cl, treasury, 0), url, 0)
		sc.Reserve = reserve
		return startSessionCfg(t, ip, peer.Config{Settings: peer.Settings{RechokeInterval: 200 * time.Millisecond, UploadRateLimit: 1 << 20}, Speed: sc})
	}
	goodDir, badDir := t.TempDir(), t.TempDir()
	mi, _ := makeTorrent(t, goodDir, "c", []thirdparty.File{{Path: "c.bin", Size: 2 << 20}}, 64<<10, false)
	makeTorrent(t, badDir, "c", []thirdparty.File{{Path: "c.bin", Size: 2 << 20}}, 64<<10, false)
	good := newSeeder("127.0.0.51")
	gt := addTorrent(t, good, mi, goodDir)
	bad := newSeeder("127.0.0.52")
	bt := addTorrent(t, bad, mi, badDir)
	// Corrupt the bad seeder's copy after it verified it.
	if err := os.WriteFile(filepath.Join(badDir, "c", "c.bin"), make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	k := ledgertest.FundedKey(t, cl, treasury, 100*bidext.UnitsPerBTT)
	leecher := startSessionCfg(t, "127.0.0.53", peer.Config{Settings: peer.Settings{HashFailBan: 2}, Speed: speedWith(k, url, 100*bidext.UnitsPerBTT)})
	lt := addTorrent(t, leecher, mi, t.TempDir(), bad.Addr().String())
	deadline := time.Now().Add(30 * time.Second)
	for lt.Stats().Banned == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("corrupt provider not banned: %+v", lt.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := lt.Stats(); s.HashFailures < 2 || s.VouchersSent != 0 || s.Promised != 0 {
		t.Fatalf("after the corrupt provider's pieces: %d hash failures, %d vouchers, %d promised; want >= 2, 0, 0", s.HashFailures, s.VouchersSent, s.Promised)
	}
	if e := bt.Stats().Earned; e != 0 {
		t.Errorf("corrupt provider earned %d", e)
	}
	if err := lt.AddPeers(good.Addr().String()); err != nil {
		t.Fatal(err)
	}
	waitOurs(t, lt, time.Minute)
	deadline = time.Now().Add(10 * time.Second)
	for lt.Stats().PaymentAcks < lt.Stats().VouchersSent && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s := lt.Stats()
	t.Logf("paid the honest seeder %d units in %d vouchers; corrupt seeder earned %d", s.Spent, s.VouchersSent, bt.Stats().Earned)
	if s.Spent == 0 || gt.Stats().Earned != s.Spent || bt.Stats().Earned != 0 {
		t.Errorf("honest seeder earned %d, we spent %d, corrupt seeder earned %d", gt.Stats().Earned, s.Spent, bt.Stats().Earned)
	}
}
