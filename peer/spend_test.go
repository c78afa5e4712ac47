package peer

import (
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/wire"
)

// TestBudgetControls: the session's budget, maximum price and per-torrent switches change
// the auto-bid at run time, and two torrents share one budget (their bids price the data
// both still want, not each the whole budget).
func TestBudgetControls(t *testing.T) {
	dir := t.TempDir()
	a := writeTree(t, dir, "a", []int{1 << 20}, 64<<10, 21)
	b := writeTree(t, dir, "b", []int{1 << 20}, 64<<10, 22)
	sc := speedConfig(0, noReserve)
	sc.Budget = bidext.UnitsPerBTT
	s := newSpeedSession(t, "127.0.0.1", Settings{}, sc)
	ta, err := s.AddTorrent(a.Info, TorrentOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bidOf := func(T *Torrent, want uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			st := T.Speed()
			if st.Bid == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("bid %d, want %d", st.Bid, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	one, _ := bidext.BudgetBid(bidext.UnitsPerBTT, 1<<20, 0)
	bidOf(ta, one)
	tb, err := s.AddTorrent(b.Info, TorrentOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	two, _ := bidext.BudgetBid(bidext.UnitsPerBTT, 2<<20, 0)
	bidOf(tb, two)
	s.SetBudget(2 * bidext.UnitsPerBTT) // a user change: both re-bid at once
	bidOf(ta, 2*two)
	bidOf(tb, 2*two)
	s.SetMaxPrice(1000)
	bidOf(ta, 1000)
	tb.SetBidding(false)
	bidOf(tb, 0)
	s.SetMaxPrice(0)
	four, _ := bidext.BudgetBid(2*bidext.UnitsPerBTT, 1<<20, 0) // b no longer bids: a prices its data alone
	bidOf(ta, four)
	if limit, committed, signed := s.Budget(); limit != 2*bidext.UnitsPerBTT || committed != 0 || signed != 0 {
		t.Fatalf("budget %d committed %d signed %d", limit, committed, signed)
	}
}

// TestUntrustedLedgerRefused: a bid_response naming a ledger we were not configured with is
// refused: no channel is opened there, and our bid to that provider is withdrawn (bid 0).
func TestUntrustedLedgerRefused(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "trust", []int{1 << 20}, 64<<10, 23)
	// A slow seeder: the leecher must still want pieces when the bid_response comes.
	seeder := newSpeedSession(t, "127.0.0.1", Settings{UploadRateLimit: 16 << 10}, speedConfig(0, noReserve))
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	sc := speedConfig(1_000_000, noReserve)
	w, err := channel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sc.Wallet = w
	sc.Ledgers = []string{"http://127.0.0.1:1", "http://127.0.0.1:2/"}
	s := newSpeedSession(t, "127.0.0.2", Settings{}, sc)
	lt, err := s.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir(), Peers: []string{seeder.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	provider, _ := channel.GenerateKey()
	type state struct{ found, opening, withdrawn, terms bool }
	respond := func(ledgerURL string) state {
		got := make(chan state, 1)
		lt.t.do(func() {
			for _, c := range lt.t.conns {
				c.ls.sp.sentBid = 10 // as if we had bid
				lt.t.onBidResponse(c, wire.SpeedMessage{Type: wire.SpeedBidResponse, Key: provider.Public(), Ledger: ledgerURL, Price: 5})
				ps := &c.ls.sp.pr
				got <- state{true, ps.opening, ps.withdrawn, ps.terms}
				return
			}
			got <- state{}
		})
		return <-got
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st := lt.Stats(); st.Peers > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection to the seeder")
		}
	}
	if r := respond("http://evil.example:7100"); !r.found || r.opening || !r.withdrawn || r.terms {
		t.Fatalf("untrusted ledger: %+v, want no channel, bid withdrawn", r)
	}
	if lt.Stats().Withdrawals != 1 {
		t.Fatalf("withdrawals %d", lt.Stats().Withdrawals)
	}
	if !s.trusted("http://127.0.0.1:2") || !s.trusted("http://127.0.0.1:1/") || s.trusted("http://127.0.0.1:3") {
		t.Fatal("trusted list misread")
	}
	// A ledger named by the URLs of its processes: all must be ours.
	if !s.trusted("http://127.0.0.1:1,http://127.0.0.1:2") || s.trusted("http://127.0.0.1:1,http://evil.example:7100") {
		t.Fatal("trusted URL list misread")
	}
}

// TestPaymentRejectHandled: a refused channel (reason 8, being settled) moves the requester
// to a new channel, at most twice; a refused voucher for any other reason withdraws its bid.
func TestPaymentRejectHandled(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "rej", []int{1 << 20}, 64<<10, 24)
	seeder := newSpeedSession(t, "127.0.0.1", Settings{UploadRateLimit: 16 << 10}, speedConfig(0, noReserve))
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	sc := speedConfig(1_000_000, noReserve)
	w, _ := channel.GenerateKey()
	sc.Wallet = w
	s := newSpeedSession(t, "127.0.0.2", Settings{}, sc)
	lt, err := s.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir(), Peers: []string{seeder.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); lt.Stats().Peers == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no connection to the seeder")
		}
	}
	provider, _ := channel.GenerateKey()
	type state struct {
		found, opening, withdrawn bool
		moves                     int
	}
	reject := func(reason wire.SpeedRejectReason) state {
		got := make(chan state, 1)
		lt.t.do(func() {
			for _, c := range lt.t.conns {
				ps := &c.ls.sp.pr
				o := channel.Open{Payer: w.Public(), Payee: provider.Public(), Amount: 1000, Nonce: uint64(time.Now().UnixNano()), Expiry: uint64(time.Now().Add(2 * time.Hour).Unix())}
				p, err := channel.NewPayer(w, &o)
				if err != nil {
					t.Error(err)
				}
				ps.payer, ps.opening, ps.key, ps.ledger = p, false, provider.Public(), sc.Ledger
				lt.t.onPaymentReject(c, wire.SpeedMessage{Type: wire.SpeedPaymentReject, Channel: p.Channel(), Reason: reason})
				got <- state{true, ps.opening, ps.withdrawn, ps.moves}
				return
			}
			got <- state{}
		})
		return <-got
	}
	if r := reject(wire.SpeedRejectExpired); !r.found || !r.opening || r.withdrawn || r.moves != 1 {
		t.Fatalf("first refused channel: %+v, want a new channel opening", r)
	}
	if r := reject(wire.SpeedRejectChannel); r.withdrawn || r.moves != 2 {
		t.Fatalf("second refused channel: %+v", r)
	}
	if r := reject(wire.SpeedRejectChannel); !r.withdrawn {
		t.Fatalf("third refused channel: %+v, want the bid withdrawn", r)
	}
}
