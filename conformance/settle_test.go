package conformance

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// ledgerProc is a btt-ledger process that a test stops and starts again on the same port
// and database.
type ledgerProc struct {
	bin, addr, db string
	cmd           *exec.Cmd
}

func startLedgerProc(t *testing.T) (*ledgerProc, *ledger.Client, *channel.PrivateKey) {
	t.Helper()
	l := &ledgerProc{
		bin:  testutil.BuildCmd(t, "btt-ledger"),
		db:   filepath.Join(t.TempDir(), "ledger.db"),
		addr: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")),
	}
	l.start(t)
	t.Cleanup(l.kill)
	tk, err := wallet.Load(l.db+".treasury.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	return l, ledger.NewClient(l.url(), nil), tk
}

func (l *ledgerProc) url() string { return "http://" + l.addr }

func (l *ledgerProc) start(t *testing.T) {
	t.Helper()
	l.cmd = exec.Command(l.bin, "--listen", l.addr, "--db", l.db)
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cl := ledger.NewClient(l.url(), nil)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cl.Info(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger did not start: %v", err)
		}
	}
}

// kill stops the ledger with SIGKILL (its store is durable: nothing acknowledged is lost).
func (l *ledgerProc) kill() {
	if l.cmd != nil && l.cmd.Process != nil {
		l.cmd.Process.Signal(syscall.SIGKILL)
		l.cmd.Wait()
		l.cmd = nil
	}
}

// paidTo sums what the ledger paid a payee on closed channels.
func paidTo(t *testing.T, cl *ledger.Client, a channel.Address) (paid uint64, closes int) {
	t.Helper()
	chs, err := cl.Channels(ctxFor(t, 10*time.Second), a)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chs {
		if ch.PayeeAddress == a && ch.Status != ledger.StatusOpen {
			paid += uint64(ch.Paid)
			closes++
		}
	}
	return paid, closes
}

// TestSettlementSurvivesKill9: a btt seeder accepts a requester's vouchers, is killed with
// SIGKILL before it settles, and is started again on the same state dir: it settles the
// channel from its voucher log, and the ledger pays it at least everything it acknowledged
// (and no more than the requester promised), once.
func TestSettlementSurvivesKill9(t *testing.T) {
	lp, cl, treasury := startLedgerProc(t)
	const pieceLen = 64 << 10
	dir := t.TempDir()
	mi, torrent := makeTorrent(t, dir, "k9", []thirdparty.File{{Path: "k.bin", Size: 16 << 20}}, pieceLen, false)
	seedKey := ledgertest.FundedKey(t, cl, treasury, 0)
	walletFile := filepath.Join(t.TempDir(), "seed.key")
	if err := wallet.Save(walletFile, seedKey, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	btt := testutil.BuildCmd(t, "btt")
	seedAddr := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
	seed := func() (*exec.Cmd, string) {
		cmd := exec.Command(btt, "seed", torrent, "--data", dir, "--listen", seedAddr, "--upload-limit", "2000000",
			"--speed", "--wallet", walletFile, "--ledger", lp.url(), "--state-dir", stateDir,
			"--reserve-grace", "1ns", "--reserve-start", "1", "--reserve-cap", "1", "--rechoke", "300ms")
		cmd.Env = append(os.Environ(), wallet.PasswordEnv+"=pw")
		return cmd, startBackground(t, cmd)
	}
	first, _ := seed()
	funds := uint64(10 * bidext.UnitsPerBTT)
	k := ledgertest.FundedKey(t, cl, treasury, funds)
	ls := startSessionCfg(t, "127.0.0.2", peer.Config{Speed: speedWith(k, lp.url(), funds)})
	lt := addTorrent(t, ls, mi, t.TempDir(), seedAddr)
	for deadline := time.Now().Add(60 * time.Second); lt.Stats().PaymentAcks < 10; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no payments acknowledged: %+v", lt.Stats())
		}
		if lt.Stats().Peers == 0 {
			lt.AddPeers(seedAddr) // the seeder process may not have been listening yet
		}
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	st := lt.Stats()
	ls.Close()
	if st.Complete {
		t.Fatal("the download completed before the kill: the test proves nothing")
	}
	if p, _ := paidTo(t, cl, seedKey.Address()); p != 0 {
		t.Fatalf("the seeder was paid %d before it was killed: nothing to resume", p)
	}
	_, log := seed()
	var paid uint64
	var closes int
	for deadline := time.Now().Add(30 * time.Second); paid == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the restarted seeder never settled")
		}
		paid, closes = paidTo(t, cl, seedKey.Address())
	}
	time.Sleep(time.Second) // a second settlement, were there one, would show now
	paid, closes = paidTo(t, cl, seedKey.Address())
	bal := balanceOf(t, cl, seedKey.Address())
	t.Logf("requester: %d acknowledged of %d promised; restarted seeder paid %d over %d close(s), balance %d", st.Spent, st.Promised, paid, closes, bal)
	if closes != 1 || bal != paid {
		t.Errorf("%d closes, balance %d, paid %d: want one close paying the balance", closes, bal, paid)
	}
	if paid < uint64(st.Spent) || paid > uint64(st.Promised) {
		t.Errorf("paid %d, want between the %d acknowledged and the %d promised", paid, st.Spent, st.Promised)
	}
	if b := balanceOf(t, cl, k.Address()); b+paid != funds {
		t.Errorf("requester %d + seeder %d != %d funded: the deposit's rest was not refunded", b, paid, funds)
	}
	out, _ := os.ReadFile(log)
	if n := strings.Count(string(out), "speed: channel settled"); n != 1 {
		t.Errorf("restarted seeder logged %d settlements, want 1:\n%s", n, out)
	}
}

// TestSettlementOutlastsLedgerOutage: the ledger is down for 20 s when a requester leaves;
// the provider retries the settlement (1 s, doubling to 4 s) until the ledger is back, is
// paid, and counts the settlement once.
func TestSettlementOutlastsLedgerOutage(t *testing.T) {
	lp, cl, treasury := startLedgerProc(t)
	dir := t.TempDir()
	mi, _ := makeTorrent(t, dir, "down", []thirdparty.File{{Path: "d.bin", Size: 16 << 20}}, 64<<10, false)
	seedKey := ledgertest.FundedKey(t, cl, treasury, 0)
	sc := speedWith(seedKey, lp.url(), 0)
	sc.Reserve = bidext.ReserveConfig{Curve: bidext.Linear, Start: bidext.UnitsPerBTT, Cap: bidext.UnitsPerBTT}
	seeder := startSessionCfg(t, "127.0.0.1", peer.Config{
		Settings: peer.Settings{RechokeInterval: 300 * time.Millisecond, UploadRateLimit: 2 << 20, SettleRetry: time.Second, SettleRetryMax: 4 * time.Second},
		Speed:    sc,
		StateDir: t.TempDir(),
	})
	st := addTorrent(t, seeder, mi, dir)
	funds := uint64(10 * bidext.UnitsPerBTT)
	k := ledgertest.FundedKey(t, cl, treasury, funds)
	ls := startSessionCfg(t, "127.0.0.2", peer.Config{Speed: speedWith(k, lp.url(), funds)})
	lt := addTorrent(t, ls, mi, t.TempDir(), seeder.Addr().String())
	for deadline := time.Now().Add(60 * time.Second); lt.Stats().PaymentAcks < 10; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no payments acknowledged: %+v", lt.Stats())
		}
	}
	lp.kill()
	down := time.Now()
	ls.Close() // the requester leaves: the seeder settles, and the ledger is down
	time.Sleep(20 * time.Second)
	if s := st.Stats().Settled; s != 0 {
		t.Fatalf("settled %d while the ledger was down", s)
	}
	lp.start(t)
	t.Logf("ledger down for %v", time.Since(down).Round(time.Second))
	for deadline := time.Now().Add(30 * time.Second); st.Stats().Settled == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never settled once the ledger was back")
		}
	}
	time.Sleep(2 * time.Second)
	ss, ls2 := st.Stats(), lt.Stats()
	paid, closes := paidTo(t, cl, seedKey.Address())
	t.Logf("seeder earned %d, settled %d; ledger paid %d in %d close(s); requester promised %d", ss.Earned, ss.Settled, paid, closes, ls2.Promised)
	if closes != 1 || uint64(ss.Settled) != paid || balanceOf(t, cl, seedKey.Address()) != paid {
		t.Errorf("settled %d, ledger paid %d over %d closes: want one close, counted once", ss.Settled, paid, closes)
	}
	if ss.Settled < ss.Earned || ss.Settled > ls2.Promised {
		t.Errorf("settled %d, want between earned %d and promised %d", ss.Settled, ss.Earned, ls2.Promised)
	}
}

// TestHonestLeechersNotBanned (issue 11, item 3): three leechers at the default settings
// (auto-bid spending their whole balance) with equal balances compete for a seeder's two
// auctioned slots. Equal bids make the price equal the bid, so each deposit asks for the
// whole wallet: every deposit must be sized on a fresh balance, within the budget. All
// complete, none is banned or struck, and the balances sum to what was funded.
func TestHonestLeechersNotBanned(t *testing.T) {
	lp, cl, treasury := startLedgerProc(t)
	dir := t.TempDir()
	mi, _ := makeTorrent(t, dir, "honest", []thirdparty.File{{Path: "h.bin", Size: 8 << 20}}, 64<<10, false)
	seedKey := ledgertest.FundedKey(t, cl, treasury, 0)
	sc := speedWith(seedKey, lp.url(), 0)
	sc.Reserve = bidext.ReserveConfig{Curve: bidext.Linear, Start: bidext.UnitsPerBTT / 2, Cap: bidext.UnitsPerBTT / 2}
	seeder := startSessionCfg(t, "127.0.0.1", peer.Config{
		Settings: peer.Settings{UploadSlots: 2, RechokeInterval: 300 * time.Millisecond, UploadRateLimit: 4 << 20},
		Speed:    sc,
	})
	st := addTorrent(t, seeder, mi, dir)
	const funds = 10 * bidext.UnitsPerBTT
	var keys []*channel.PrivateKey
	var leechers []*peer.Torrent
	var sessions []*peer.Session
	for i := range 3 {
		k := ledgertest.FundedKey(t, cl, treasury, funds)
		s := bidext.DefaultSettings() // auto-bid at rate 1.0, the default reserve
		s.Enabled = true
		// The balance as a cache read at start reports it, never refreshed: the staleness
		// that made two of three deposits fail ("insufficient funds") before.
		cfg := peer.SpeedConfig{Settings: s, Wallet: k, Ledger: lp.url(), Balance: func() uint64 { return funds }}
		sess := startSessionCfg(t, "127.0.0."+string(rune('2'+i)), peer.Config{Speed: cfg})
		keys, sessions = append(keys, k), append(sessions, sess)
		leechers = append(leechers, addTorrent(t, sess, mi, t.TempDir(), seeder.Addr().String()))
	}
	for _, l := range leechers {
		waitOurs(t, l, 2*time.Minute)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		done := true
		for _, l := range leechers {
			done = done && l.Stats().PaymentAcks >= l.Stats().VouchersSent
		}
		if done {
			break
		}
	}
	for _, s := range sessions {
		s.Close()
	}
	for deadline := time.Now().Add(30 * time.Second); st.Stats().Settled < st.Stats().Earned; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("seeder settled %d of %d earned", st.Stats().Settled, st.Stats().Earned)
		}
	}
	ss := st.Stats()
	var total uint64
	for i, l := range leechers {
		s := l.Stats()
		b := balanceOf(t, cl, keys[i].Address())
		total += b
		t.Logf("leecher %d: spent %d in %d vouchers over %d channel(s), withdrew %d bid(s); balance %d", i, s.Spent, s.VouchersSent, s.ChannelsOpened, s.Withdrawals, b)
	}
	seedBal := balanceOf(t, cl, seedKey.Address())
	t.Logf("seeder: earned %d, settled %d, %d payment failures, %d banned; balance %d", ss.Earned, ss.Settled, ss.PaymentFailures, ss.Banned, seedBal)
	if ss.Banned != 0 || ss.PaymentFailures != 0 {
		t.Errorf("an honest leecher was struck (%d) or banned (%d)", ss.PaymentFailures, ss.Banned)
	}
	if ss.Earned == 0 {
		t.Error("nothing was paid: the auction did not run")
	}
	if total+seedBal != 3*funds {
		t.Errorf("leechers %d + seeder %d != %d funded (a deposit left open?)", total, seedBal, 3*funds)
	}
}
