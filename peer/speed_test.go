package peer

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/bencode"
	"github.com/speedbt/btt/wire/metainfo"
)

func speedConfig(balance uint64, reserve bidext.ReserveConfig) SpeedConfig {
	s := bidext.DefaultSettings()
	s.Enabled = true
	s.Reserve = reserve
	cfg := SpeedConfig{Settings: s, Ledger: "http://127.0.0.1:1/"}
	cfg.Key[0] = 2
	cfg.Balance = func() uint64 { return balance }
	return cfg
}

func newSpeedSession(t *testing.T, ip string, s Settings, sc SpeedConfig) *Session {
	t.Helper()
	return newConfiguredSession(t, ip, Config{Settings: s, Speed: sc})
}

// noReserve keeps the reserve at 0 (a cap of 0 means no reserve at all).
var noReserve = bidext.ReserveConfig{}

// speedSwarm starts a Speed seeder of a large torrent (uploads throttled, so no leecher
// finishes during the test) and n Speed leechers whose balances are balance(i).
func speedSwarm(t *testing.T, n int, reserve bidext.ReserveConfig, balance func(i int) uint64) (*Torrent, []*Torrent, *metainfo.MetaInfo) {
	t.Helper()
	return speedSwarmWith(t, Settings{UploadSlots: 3, RechokeInterval: 200 * time.Millisecond, UploadRateLimit: 1 << 20}, n, reserve, balance)
}

// speedSwarmWith is speedSwarm with the seeder's settings set.
func speedSwarmWith(t *testing.T, set Settings, n int, reserve bidext.ReserveConfig, balance func(i int) uint64) (*Torrent, []*Torrent, *metainfo.MetaInfo) {
	t.Helper()
	dir := t.TempDir()
	mi := writeTree(t, dir, "speed", []int{24 << 20}, 256<<10, 11)
	seeder := newSpeedSession(t, "127.0.0.1", set, speedConfig(0, reserve))
	st, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var leechers []*Torrent
	for i := range n {
		s := newSpeedSession(t, fmt.Sprintf("127.0.0.%d", 20+i), Settings{}, speedConfig(balance(i), noReserve))
		lt, err := s.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir(), Peers: []string{seeder.Addr().String()}})
		if err != nil {
			t.Fatal(err)
		}
		leechers = append(leechers, lt)
	}
	return st, leechers, mi
}

// waitSpeed polls the torrent's Speed state until ok accepts it.
func waitSpeed(t *testing.T, tor *Torrent, d time.Duration, ok func(SpeedStatus) bool) SpeedStatus {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := tor.Speed()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("speed state not reached in %v: %+v", d, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAuctionTopBidders: a seeder with 3 regular slots and 6 bidders with different
// balances unchokes the 3 highest bidders through the auction, and each of them is told the
// 4th bid (the highest losing one) as its price, both at the seeder and at the winners; the
// losers hear no bid-response. The seeder's rechoke timer is an hour away and the test runs
// the one rechoke once all six bids are in: until then events only fill free slots, and a
// leecher's interest always reaches the seeder before its bid, so the slots are all taken
// for free before any bid and nobody is quoted a price before the auction.
func TestAuctionTopBidders(t *testing.T) {
	const btt = 1_000_000
	seed, leechers, _ := speedSwarmWith(t, Settings{UploadSlots: 3, RechokeInterval: time.Hour, UploadRateLimit: 1 << 20},
		6, noReserve, func(i int) uint64 { return uint64(i+1) * 10 * btt })
	waitSpeed(t, seed, 15*time.Second, func(st SpeedStatus) bool {
		n := 0
		for _, p := range st.Peers {
			if p.Bid > 0 && p.Interests {
				n++
			}
		}
		return n == 6
	})
	if n := seed.Stats().AuctionUnchokes; n != 0 {
		t.Fatalf("%d bid-responses before the auction ran", n)
	}
	stc := make(chan SpeedStatus, 1)
	seed.t.do(func() {
		seed.t.rechoke(time.Now())
		stc <- seed.t.speedStatus() // the state the rechoke left, before any bid moves
	})
	st := <-stc
	var bids []uint64
	paying := 0
	for _, p := range st.Peers {
		bids = append(bids, p.Bid)
		if p.Paying {
			paying++
		}
	}
	slices.Sort(bids)
	fourth := bids[2] // the highest losing bid: ascending, the 3rd from the bottom
	if paying != 3 {
		t.Fatalf("%d paying after the auction, want 3 (bids %v)", paying, bids)
	}
	for _, p := range st.Peers {
		top := p.Bid > fourth
		if p.Paying != top {
			t.Errorf("peer %v bid %d: paying=%v, want %v (bids %v)", p.Addr, p.Bid, p.Paying, top, bids)
		}
		if p.Paying && p.Price != fourth {
			t.Errorf("winner %v pays %d, want the 4th bid %d", p.Addr, p.Price, fourth)
		}
	}
	// The winners hear the price in a bid-response, once; the losers hear none.
	var winners, losers []*Torrent
	for _, l := range leechers {
		if ls := l.Speed(); len(ls.Peers) == 1 && ls.Peers[0].SentBid > fourth {
			winners = append(winners, l)
		} else {
			losers = append(losers, l)
		}
	}
	if len(winners) != 3 {
		t.Fatalf("%d leechers bid above the 4th bid %d, want 3", len(winners), fourth)
	}
	for _, l := range winners {
		ls := waitSpeed(t, l, 5*time.Second, func(st SpeedStatus) bool { return st.Peers[0].QuotedN > 0 })
		if p := ls.Peers[0]; p.Quoted != fourth || p.QuotedN != 1 {
			t.Errorf("winner bidding %d was quoted %d in %d bid-responses, want %d in 1", p.SentBid, p.Quoted, p.QuotedN, fourth)
		}
	}
	for _, l := range losers {
		if p := l.Speed().Peers[0]; p.QuotedN != 0 {
			t.Errorf("loser bidding %d heard %d bid-responses (last %d)", p.SentBid, p.QuotedN, p.Quoted)
		}
	}
	if s := seed.Stats(); s.AuctionUnchokes != 3 || s.BidsReceived < 6 {
		t.Errorf("seeder counters: %+v", s)
	}
}

// TestReserveAboveAllBids: with a reserve above every bid no bidder wins a slot through the
// auction, and the classic rule still serves peers.
func TestReserveAboveAllBids(t *testing.T) {
	const btt = 1_000_000
	high := bidext.ReserveConfig{Curve: bidext.Linear, Start: 1 << 50, Cap: 1 << 50}
	seed, leechers, _ := speedSwarm(t, 4, high, func(i int) uint64 { return uint64(i+1) * btt })
	waitSpeed(t, seed, 15*time.Second, func(st SpeedStatus) bool {
		unchoked, bidders := 0, 0
		for _, p := range st.Peers {
			if p.Unchoked {
				unchoked++
			}
			if p.Bid > 0 {
				bidders++
			}
		}
		return st.Reserve == 1<<50 && bidders == 4 && unchoked >= 3
	})
	if n := seed.Stats().AuctionUnchokes; n != 0 {
		t.Errorf("%d auction unchokes with the reserve above every bid", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int64
		for _, l := range leechers {
			got += l.Stats().Downloaded
		}
		if got > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no leecher received data: the classic rule did not serve anyone")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSourceProof: a seeder whose reserve has grown announces it with a challenge; an invalid
// proof leaves the reserve alone, a valid one resets it to 0, and replaying the valid one is
// refused.
func TestSourceProof(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "proof", []int{3 << 20}, 64<<10, 12)
	const reserve = 5_000_000
	rc := bidext.ReserveConfig{Curve: bidext.Linear, Grace: time.Hour, Start: reserve, Cap: reserve}
	seeder := newSpeedSession(t, "127.0.0.1", Settings{}, speedConfig(0, rc))
	st, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// Nobody else has been known to hold this torrent for two hours.
	st.t.do(func() { st.t.speed.heldAt = time.Now().Add(-2 * time.Hour); st.t.updateReserve() })
	waitSpeed(t, st, 5*time.Second, func(s SpeedStatus) bool { return s.Reserve == reserve })

	nc, r, speedID := dialSpeedPeer(t, seeder, mi)
	defer nc.Close()
	var ch wire.SpeedMessage
	for {
		m := readSpeed(t, r)
		if m.Type == wire.SpeedReservePrice {
			ch = m
			break
		}
	}
	if ch.Price != reserve {
		t.Fatalf("announced reserve %d, want %d", ch.Price, reserve)
	}
	data := make([]byte, 16<<10)
	if err := st.t.store.ReadBlock(int(ch.Piece), int(ch.Chunk)*16<<10, data[:min(16<<10, int(mi.Info.PieceSize(int(ch.Piece)))-int(ch.Chunk)*16<<10)]); err != nil {
		t.Fatal(err)
	}
	data = data[:min(16<<10, int(mi.Info.PieceSize(int(ch.Piece)))-int(ch.Chunk)*16<<10)]
	ih := mi.Info.Hash()
	good := bidext.SourceProof(ch.Salt, ih[:], ch.Piece, ch.Chunk, data)
	bad := good
	bad[0] ^= 1

	sendSpeedMsg(t, nc, speedID, wire.SpeedMessage{Type: wire.SpeedSourceProof, Piece: ch.Piece, Chunk: ch.Chunk, Salt: ch.Salt, Proof: bad})
	waitStats(t, st, func(s Stats) bool { return s.BadProofs == 1 })
	if got := st.Speed().Reserve; got != reserve {
		t.Fatalf("reserve %d after an invalid proof, want %d", got, reserve)
	}
	// The invalid attempt consumed that challenge. The seeder issues a new one with its next
	// announcement; make it here on the seeder's loop (Speed() runs after it, in order).
	var fresh bidext.Challenge
	st.t.do(func() { fresh, _ = st.t.speed.possession.Challenge(rand.Reader) })
	st.Speed()
	data = make([]byte, min(16<<10, int(mi.Info.PieceSize(int(fresh.Piece)))-int(fresh.Chunk)*16<<10))
	if err := st.t.store.ReadBlock(int(fresh.Piece), int(fresh.Chunk)*16<<10, data); err != nil {
		t.Fatal(err)
	}
	good = bidext.SourceProof(fresh.Salt, ih[:], fresh.Piece, fresh.Chunk, data)
	proof := wire.SpeedMessage{Type: wire.SpeedSourceProof, Piece: fresh.Piece, Chunk: fresh.Chunk, Salt: fresh.Salt, Proof: good}
	sendSpeedMsg(t, nc, speedID, proof)
	waitStats(t, st, func(s Stats) bool { return s.SourceProofs == 1 })
	if got := st.Speed().Reserve; got != 0 {
		t.Fatalf("reserve %d after a valid proof, want 0", got)
	}
	// Put the reserve back up, then replay the valid proof: its salt was used.
	st.t.do(func() { st.t.speed.heldAt = time.Now().Add(-2 * time.Hour); st.t.updateReserve() })
	waitSpeed(t, st, 5*time.Second, func(s SpeedStatus) bool { return s.Reserve == reserve })
	sendSpeedMsg(t, nc, speedID, proof)
	waitStats(t, st, func(s Stats) bool { return s.BadProofs == 2 })
	if got := st.Speed().Reserve; got != reserve || st.Stats().SourceProofs != 1 {
		t.Fatalf("replayed proof accepted: reserve %d, proofs %d", got, st.Stats().SourceProofs)
	}
}

func waitStats(t *testing.T, tor *Torrent, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(tor.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("stats not reached: %+v", tor.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialSpeedPeer connects a bare wire-level peer that advertises Speed under id 9 and
// returns the id the seeder wants Speed messages under.
func dialSpeedPeer(t *testing.T, s *Session, mi *metainfo.MetaInfo) (net.Conn, *wire.Reader, uint8) {
	t.Helper()
	return dialSpeedPeerFast(t, s, mi, false)
}

// dialSpeedPeerFast is dialSpeedPeer with the BEP 6 fast bit set when fast is true.
func dialSpeedPeerFast(t *testing.T, s *Session, mi *metainfo.MetaInfo, fast bool) (net.Conn, *wire.Reader, uint8) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	h := wire.Handshake{InfoHash: mi.InfoHash()}
	copy(h.PeerID[:], "-XX0001-")
	rand.Read(h.PeerID[8:]) // unique: a seeder refuses a second connection from one peer id
	h.Reserved.SetExtended(true)
	h.Reserved.SetFast(fast)
	if err := wire.WriteHandshake(nc, h); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.ReadHandshake(nc); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(wire.AppendMessage(nil, speedExtHandshake())); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(nc, 0)
	for {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := speedIDOf(t, m); ok {
			return nc, r, id
		}
	}
}

// speedExtHandshake is a raw peer's extension handshake, advertising Speed as message 9.
func speedExtHandshake() wire.Message {
	ext := wire.ExtendedHandshake{M: map[string]int{wire.SpeedExtName: 9}, Extra: map[string]bencode.RawMessage{wire.SpeedVersionKey: wire.SpeedVersionValue()}}
	return wire.Message{Type: wire.Extended, Payload: wire.AppendExtendedHandshake(nil, ext)}
}

// speedIDOf returns the Speed message id our session gives in m, if m is its extension
// handshake; a handshake without Speed fails the test.
func speedIDOf(t *testing.T, m wire.Message) (uint8, bool) {
	t.Helper()
	if m.Type != wire.Extended || m.ExtID != 0 {
		return 0, false
	}
	eh, err := wire.ParseExtendedHandshake(m.Payload)
	if err != nil {
		t.Fatal(err)
	}
	id, _, ok := wire.SpeedAdvertised(eh.M, eh.Extra)
	if !ok {
		t.Fatal("our session does not advertise Speed")
	}
	return uint8(id), true
}

func readSpeed(t *testing.T, r *wire.Reader) wire.SpeedMessage {
	t.Helper()
	for {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == wire.Extended && m.ExtID == 9 {
			sm, err := wire.ParseSpeedMessage(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			return sm
		}
	}
}

func sendSpeedMsg(t *testing.T, nc net.Conn, id uint8, m wire.SpeedMessage) {
	t.Helper()
	p, err := wire.AppendSpeedMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: id, Payload: p})); err != nil {
		t.Fatal(err)
	}
}

// TestMalformedSpeedDisconnects: a Speed message before the peer advertised Speed, or one
// that does not decode, is a protocol error and costs the peer its connection.
func TestMalformedSpeedDisconnects(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "bad", []int{1 << 20}, 64<<10, 13)
	seeder := newSpeedSession(t, "127.0.0.1", Settings{}, speedConfig(0, noReserve))
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		payload []byte
	}{
		{"not bencode", []byte("garbage")},
		{"bid without price", []byte("d8:msg_typei0ee")},
		{"negative price", []byte("d8:msg_typei0e5:pricei-5ee")},
		{"oversized", append([]byte("d8:msg_typei0e5:pricei1e3:pad2000:"), make([]byte, 2001)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, r, id := dialSpeedPeer(t, seeder, mi)
			defer nc.Close()
			if _, err := nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: id, Payload: tt.payload})); err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := r.ReadMessage(); err != nil {
					return // disconnected, as it should be
				}
			}
		})
	}
}

// TestTrackerClaimChecked: a peer a tracker said bids X, whose real bid is below half of X, is
// disconnected; one that bids what was claimed stays.
func TestTrackerClaimChecked(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "claim", []int{8 << 20}, 64<<10, 14)
	seeder := newSpeedSession(t, "127.0.0.1", Settings{UploadRateLimit: 256 << 10}, speedConfig(0, noReserve))
	st, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	const claimed = 1_000_000_000
	tests := []struct {
		ip      string
		balance uint64
		drop    bool
	}{
		{"127.0.0.61", 1, true},              // bids about nothing: radically below the claim
		{"127.0.0.62", 1_000_000_000, false}, // bids far more than claimed
	}
	for _, tt := range tests {
		ap := netip.MustParseAddr(tt.ip)
		st.t.do(func() { st.t.claims[ap] = claimedBid{bid: claimed} })
	}
	var leechers []*Torrent
	for _, tt := range tests {
		s := newSpeedSession(t, tt.ip, Settings{}, speedConfig(tt.balance, noReserve))
		lt, err := s.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir(), Peers: []string{seeder.Addr().String()}})
		if err != nil {
			t.Fatal(err)
		}
		leechers = append(leechers, lt)
	}
	waitStats(t, st, func(s Stats) bool { return s.ClaimDisconnects >= 1 })
	// The honest bidder stays connected, with its real bid.
	waitSpeed(t, st, 5*time.Second, func(s SpeedStatus) bool {
		for _, p := range s.Peers {
			if p.Addr.Addr().String() == "127.0.0.62" && p.Bid >= claimed {
				return true
			}
		}
		return false
	})
}

// TestSettleBeforeExpiry: a provider settles a requester's channel ten minutes before it
// expires (or the ledger would refund the requester everything), and from then on the
// channel takes no voucher.
func TestSettleBeforeExpiry(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "exp", []int{1 << 20}, 64<<10, 15)
	sc := speedConfig(0, noReserve)
	w, err := channel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sc.Wallet = w
	seeder := newSpeedSession(t, "127.0.0.1", Settings{}, sc)
	st, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, _, _ := dialSpeedPeer(t, seeder, mi)
	defer nc.Close()
	payer, _ := channel.GenerateKey()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		known := make(chan bool, 1)
		st.t.do(func() {
			for _, c := range st.t.conns {
				known <- c.ls.sp.pe.id != 0
				return
			}
			known <- false
		})
		if <-known {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the seeder never took our Speed handshake")
		}
	}
	check := func(expiresIn time.Duration) (settling bool) {
		ch := make(chan bool, 1)
		st.t.do(func() {
			for _, c := range st.t.conns {
				p := seeder.pay
				o := channel.Open{Payer: payer.Public(), Payee: w.Public(), Amount: 1000, Nonce: uint64(time.Now().UnixNano()), Expiry: uint64(time.Now().Add(expiresIn).Unix())}
				state := channel.State{ID: o.ID(), Payer: o.Payer, Payee: o.Payee, Deposit: 1000, Expiry: o.Expiry}
				p.mu.Lock()
				_, err := p.book.Name(c.ls.sp.pe.id, state, time.Now())
				if err == nil {
					_, err = p.book.Voucher(c.ls.sp.pe.id, nil, channel.SignVoucher(payer, channel.Voucher{Channel: o.ID(), Sequence: 1, Cumulative: 700}), time.Now())
				}
				p.mu.Unlock()
				if err != nil {
					t.Error(err)
				}
				st.t.paymentTick(time.Now())
				p.mu.Lock()
				ch <- p.settling[o.ID()]
				p.mu.Unlock()
				return
			}
			ch <- false
		})
		return <-ch
	}
	if check(time.Hour) {
		t.Fatal("a channel an hour from expiry was settled")
	}
	if !check(5 * time.Minute) {
		t.Fatal("a channel 5 minutes from expiry was not settled")
	}
}

// A requester opens a channel on a bid-response only while it wants pieces from the
// provider: a seed (or a peer with nothing of interest) would lock its deposit for nothing.
func TestNoChannelWithoutInterest(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "noint", []int{256 << 10}, 64<<10, 16)
	sc := speedConfig(1_000_000, noReserve)
	w, err := channel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sc.Wallet = w
	s := newSpeedSession(t, "127.0.0.1", Settings{}, sc)
	st, err := s.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}) // complete: a seed
	if err != nil {
		t.Fatal(err)
	}
	nc, _, _ := dialSpeedPeer(t, s, mi)
	defer nc.Close()
	provider, _ := channel.GenerateKey()
	type state struct{ found, terms, opening, interested bool }
	got := make(chan state, 1)
	st.t.do(func() {
		for _, c := range st.t.conns {
			st.t.onBidResponse(c, wire.SpeedMessage{Type: wire.SpeedBidResponse, Key: provider.Public(), Ledger: sc.Ledger, Price: 5})
			ps := &c.ls.sp.pr
			got <- state{true, ps.terms, ps.opening, c.ls.amInterested}
			return
		}
		got <- state{}
	})
	r := <-got
	if !r.found || !r.terms || r.interested {
		t.Fatalf("setup: %+v", r)
	}
	if r.opening {
		t.Fatal("a seed opened a channel on a bid-response")
	}
}
