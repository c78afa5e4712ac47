package peer

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/internal/ledgertest"
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
)

// TestBillableKeepsEachPrice: a piece whose blocks came under two prices (the provider
// re-priced us between them) is paid at each block's own price, the amount the provider's
// book bills, not all at the latest price (which struck an honest requester re-priced from
// 1.5 BTT to 0.5 mid-piece: conformance.TestHonestLeechersNotBanned).
func TestBillableKeepsEachPrice(t *testing.T) {
	const hi, lo = 1531214953, 500000
	tests := []struct {
		name   string
		prices []uint64 // one per block, in arrival order
	}{
		{"one price", []uint64{hi, hi, hi, hi}},
		{"re-priced down", []uint64{hi, hi, lo, lo}},
		{"re-priced up", []uint64{lo, hi, hi, hi}},
		{"and back", []uint64{hi, lo, hi, lo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bs []billableBytes
			var provider bidext.Meter // bills each block at the price it was served under
			for _, p := range tt.prices {
				bs = addBillable(bs, p, piece.BlockSize)
				if _, err := provider.Add(p, piece.BlockSize); err != nil {
					t.Fatal(err)
				}
			}
			if len(bs) > len(tt.prices) {
				t.Errorf("%d entries for %d blocks", len(bs), len(tt.prices))
			}
			var requester bidext.Meter
			for _, b := range bs {
				if _, err := requester.Add(b.price, b.bytes); err != nil {
					t.Fatal(err)
				}
			}
			if requester.Total() != provider.Total() {
				t.Errorf("requester owes %d, provider billed %d", requester.Total(), provider.Total())
			}
		})
	}
}

// rawProvider is a test's hand-driven Speed seed: it accepts one connection from our
// requester and says only what the test tells it to.
type rawProvider struct {
	t     *testing.T
	ln    net.Listener
	nc    net.Conn
	r     *wire.Reader
	ext   uint8  // the requester's Speed message id
	bid   uint64 // the requester's bid
	price uint64 // what we quoted it
	data  []byte // the torrent's bytes
}

func listenRawProvider(t *testing.T, ip string, data []byte) *rawProvider {
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &rawProvider{t: t, ln: ln, data: data}
}

// accept takes the requester's connection and answers its handshake as a fast, Speed seed,
// then reads until the requester's bid.
func (p *rawProvider) accept(mi *metainfo.MetaInfo) {
	t := p.t
	t.Helper()
	p.ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	nc, err := p.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := wire.ReadHandshake(nc); err != nil {
		t.Fatal(err)
	}
	h := wire.Handshake{InfoHash: mi.InfoHash()}
	copy(h.PeerID[:], "-XX0001-"+nc.LocalAddr().String())
	h.Reserved.SetExtended(true)
	h.Reserved.SetFast(true)
	if err := wire.WriteHandshake(nc, h); err != nil {
		t.Fatal(err)
	}
	p.nc, p.r = nc, wire.NewReader(nc, 0)
	p.send(speedExtHandshake(), wire.Message{Type: wire.HaveAll})
	for p.bid == 0 {
		m := p.read()
		if id, ok := speedIDOf(t, m); ok {
			p.ext = id
		}
		if sm, ok := p.speed(m); ok && sm.Type == wire.SpeedBid {
			p.bid = sm.Price
		}
	}
}

func (p *rawProvider) send(ms ...wire.Message) {
	p.t.Helper()
	var b []byte
	for _, m := range ms {
		b = wire.AppendMessage(b, m)
	}
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *rawProvider) read() wire.Message {
	p.t.Helper()
	m, err := p.r.ReadMessage()
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

// speed decodes m if it is a Speed message.
func (p *rawProvider) speed(m wire.Message) (wire.SpeedMessage, bool) {
	if m.Type != wire.Extended || m.ExtID != 9 {
		return wire.SpeedMessage{}, false
	}
	sm, err := wire.ParseSpeedMessage(m.Payload)
	if err != nil {
		p.t.Fatal(err)
	}
	return sm, true
}

// sell quotes the requester a quarter of its bid (so that its budget funds a channel to
// each provider), payable to key on ledger, and unchokes it.
func (p *rawProvider) sell(key *channel.PrivateKey, ledger string) {
	p.t.Helper()
	p.price = p.bid / 4
	b, err := wire.AppendSpeedMessage(nil, wire.SpeedMessage{Type: wire.SpeedBidResponse, Price: p.price, Key: key.Public(), Ledger: ledger})
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(wire.Message{Type: wire.Extended, ExtID: p.ext, Payload: b}, wire.Message{Type: wire.Unchoke})
}

// until reads until n messages of type typ came, and returns them.
func (p *rawProvider) until(typ wire.MessageType, n int) []wire.Message {
	p.t.Helper()
	var got []wire.Message
	for len(got) < n {
		if m := p.read(); m.Type == typ {
			got = append(got, m)
		}
	}
	return got
}

// block answers a request with its data.
func (p *rawProvider) block(req wire.Message) wire.Message {
	return wire.Message{Type: wire.Piece, Index: req.Index, Begin: req.Begin, Payload: p.data[req.Begin : req.Begin+req.Length]}
}

// TestCancelledBlockStillPaid: a block we cancel in endgame that the provider had already
// sent is billed by it (it bills what it sends), so we read it and pay for it
// (docs/speed-payments.md, rule 3), rather than skip it and leave the provider owed, which
// it counts as a strike against us.
func TestCancelledBlockStillPaid(t *testing.T) {
	led := ledgertest.Start(t, nil, nil)
	dir := t.TempDir()
	mi := writeTree(t, dir, "cancel", []int{2 * piece.BlockSize}, 2*piece.BlockSize, 7)
	data, err := os.ReadFile(filepath.Join(dir, "cancel", "fa"))
	if err != nil {
		t.Fatal(err)
	}
	first, second := listenRawProvider(t, "127.0.0.2", data), listenRawProvider(t, "127.0.0.3", data)
	const funds = 100 * bidext.UnitsPerBTT
	cfg := speedConfig(funds, noReserve)
	cfg.Wallet, cfg.Ledger = led.Funded(t, funds), led.URL
	requester := newSpeedSession(t, "127.0.0.1", Settings{}, cfg)
	if _, err := requester.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir(), Peers: []string{first.ln.Addr().String(), second.ln.Addr().String()}}); err != nil {
		t.Fatal(err)
	}
	first.accept(mi)
	second.accept(mi)
	firstKey, secondKey := led.Funded(t, 0), led.Funded(t, 0)

	// The first provider is asked for both blocks and sits on them; the second, unchoked
	// next, is asked for both again (endgame) and sends them: the piece is done, and both
	// requests at the first are cancelled.
	first.sell(firstKey, led.URL)
	reqs := first.until(wire.Request, 2)
	second.sell(secondKey, led.URL)
	for _, req := range second.until(wire.Request, 2) {
		second.send(second.block(req))
	}
	first.until(wire.Cancel, 2)
	// The first provider's blocks were on their way: they arrive after the cancels.
	first.send(first.block(reqs[0]), first.block(reqs[1]))

	want, err := bidext.Owed(first.price, 2*piece.BlockSize)
	if err != nil || want == 0 {
		t.Fatalf("owed %d, %v", want, err)
	}
	for paid := uint64(0); paid < want; {
		m := first.read() // bounded by the connection's deadline
		sm, ok := first.speed(m)
		if !ok || sm.Type != wire.SpeedVoucher {
			continue
		}
		v, err := channel.ParseVoucher(sm.Voucher[:])
		if err != nil {
			t.Fatal(err)
		}
		if paid = v.Cumulative; paid > want {
			t.Fatalf("paid %d for two blocks at %d, want %d", paid, first.price, want)
		}
	}
}
