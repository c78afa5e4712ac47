package peer

import (
	"crypto/rand"
	"errors"
	"net/netip"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/choke"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/bencode"
)

// SpeedConfig turns on Speed, the token market (docs/bep-speed.md), for a session. With
// Enabled false (the default) the session advertises nothing, sends no Speed message and
// ignores the ones it receives: it is a plain BitTorrent client.
type SpeedConfig struct {
	bidext.Settings
	// Balance reports the wallet's balance in base units; nil means 0. It sizes the default
	// budget (SpendingRate x the balance at start); deposits read the ledger afresh.
	Balance func() uint64
	// Budget is the most the session may ever spend, in base units, over every torrent,
	// deposits included (docs/speed-payments.md, rule 9); 0 means SpendingRate x Balance()
	// at start. Session.SetBudget changes it at run time.
	Budget uint64
	// MaxPrice caps every auto-bid (base units per GiB); 0: no cap.
	MaxPrice uint64
	// Ledgers are the ledgers we pay on (the first is also where we are paid, when Ledger is
	// empty); a provider naming another is refused. Empty means Ledger alone.
	Ledgers []string
	// Wallet is the key that pays (as requester) and is paid (as provider). Without one,
	// bids and auctions still run but nothing is paid: Key then names the provider.
	Wallet *channel.PrivateKey
	// Key is the provider's payment key (compressed secp256k1) and Ledger the ledger's URL,
	// both sent to auction winners in bid-responses. Key defaults to the wallet's.
	Key    [wire.SpeedKeySize]byte
	Ledger string
	// Secret seeds the proof-of-possession challenges; zero means a random one.
	Secret [32]byte
}

// extIDSpeed is the extended message id under which peers send us Speed messages.
const extIDSpeed = 3

// speedTorrent is a torrent's Speed state, owned by its loop.
type speedTorrent struct {
	eff        bidext.Effective
	bidder     *bidext.Bidder
	possession *bidext.Possession
	heldAt     time.Time        // when the torrent was last known to be held by another peer
	reserve    uint64           // the reserve price last announced
	committed  bidext.Committed // the reserves announced over the commitment window (reserve.go)
	proofs     int              // valid source proofs received
}

// speedPeer is one connection's Speed state, owned by the loop.
type speedPeer struct {
	id      uint8  // the peer's extended id for bt_speed; 0: a legacy peer
	bid     uint64 // the peer's bid to us (as provider)
	paying  bool   // the peer is unchoked under an auction price
	price   uint64 // that price
	sentBid uint64 // our last bid to the peer (as requester); 0: none
	quoted  uint64 // the price the peer (as provider) last told us we pay
	quotedN int    // bid-responses received
	reserve uint64 // the peer's reserve price, as it announced

	pr payerSide // we pay this peer
	pe payeeSide // this peer pays us
}

func (t *torrent) speedOn() bool { return t.speed != nil }

// initSpeed sets up Speed for a torrent when the session has it on and the torrent does not
// opt out.
func (t *torrent) initSpeed(ts bidext.TorrentSettings) error {
	cfg := t.s.speed
	if !cfg.Enabled || ts.Off {
		return nil
	}
	eff := cfg.Settings.For(ts)
	// The session's spending rate sized its budget, once; a torrent's own rate (when set)
	// scales its bid within that budget.
	rate := uint32(bidext.PPM)
	if ts.SpendingRate != nil {
		rate = min(*ts.SpendingRate, bidext.PPM)
	}
	secret := cfg.Secret
	if secret == [32]byte{} {
		rand.Read(secret[:])
	}
	pos, err := bidext.NewPossession(secret, t.infoHash[:], t.layout.PieceLength, t.layout.TotalLength)
	if err != nil {
		return err
	}
	t.speed = &speedTorrent{
		eff:        eff,
		bidder:     bidext.NewBidder(eff.Bid, rate),
		possession: pos,
		heldAt:     time.Now(),
	}
	return nil
}

// speedHandshake adds our Speed advertisement to an extended handshake.
func (t *torrent) speedHandshake(h *wire.ExtendedHandshake) {
	if !t.speedOn() {
		return
	}
	h.M[wire.SpeedExtName] = extIDSpeed
	if h.Extra == nil {
		h.Extra = map[string]bencode.RawMessage{}
	}
	h.Extra[wire.SpeedVersionKey] = wire.SpeedVersionValue()
}

// speedPeerHandshake notes whether the peer speaks Speed and, if so, greets it: providers
// announce their reserve price with a challenge, requesters send their bid.
func (t *torrent) speedPeerHandshake(c *conn, h wire.ExtendedHandshake) {
	if !t.speedOn() || c.ls.sp.id != 0 {
		return
	}
	id, _, ok := wire.SpeedAdvertised(h.M, h.Extra)
	if !ok {
		return
	}
	c.ls.sp.id = uint8(id)
	t.payeeConnect(c)
	if t.speed.eff.Auction && !t.picker.Have().None() {
		t.sendReserve(c)
	}
	t.offerBid(c)
}

// offerBid sends our current bid to a Speed peer that has pieces we want, unless it has it:
// a peer met after the bid was made (through a tracker, the DHT, PEX) must hear it too, and
// it becomes interesting only once its bitfield arrives, after the handshakes.
func (t *torrent) offerBid(c *conn) {
	if !t.speedOn() || c.ls.sp.id == 0 || !t.picker.Interesting(c.key) {
		return
	}
	if c.ls.sp.pr.withdrawn {
		return
	}
	if bid, sent := t.speed.bidder.Last(); sent && bid > 0 && c.ls.sp.sentBid != bid {
		t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedBid, Price: bid})
		c.ls.sp.sentBid = bid
	}
}

func (t *torrent) sendSpeed(c *conn, m wire.SpeedMessage) {
	payload, err := wire.AppendSpeedMessage(nil, m)
	if err != nil {
		t.s.log.Error("encoding speed message", "type", m.Type, "err", err)
		return
	}
	c.send(wire.Message{Type: wire.Extended, ExtID: c.ls.sp.id, Payload: payload})
}

// sendReserve sends the torrent's reserve price with a fresh challenge.
func (t *torrent) sendReserve(c *conn) {
	ch, err := t.speed.possession.Challenge(rand.Reader)
	if err != nil {
		t.s.log.Error("speed challenge", "err", err)
		return
	}
	t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedReservePrice, Price: t.speed.reserve,
		Piece: ch.Piece, Chunk: ch.Chunk, Salt: ch.Salt})
}

// onSpeed handles a Speed message. Malformed or out-of-place ones are protocol errors: the
// caller disconnects the peer.
func (t *torrent) onSpeed(c *conn, payload []byte) error {
	if !t.speedOn() {
		return nil // we never advertised it; a stray message is ignored, as BEP 10 asks
	}
	if c.ls.sp.id == 0 {
		return protocolErr("speed message before a Speed handshake")
	}
	m, err := wire.ParseSpeedMessage(payload)
	if errors.Is(err, wire.ErrSpeedUnknownType) {
		return nil // a later version's message
	}
	if err != nil {
		return err
	}
	switch m.Type {
	case wire.SpeedBid:
		if !t.speed.eff.Auction {
			return nil
		}
		t.stats.bids.Add(1)
		first := c.ls.sp.bid == 0 && m.Price > 0
		c.ls.sp.bid = m.Price
		t.payeeBid(c, m.Price)
		if err := t.checkClaim(c, time.Now()); err != nil {
			return err
		}
		if first && c.ls.peerInterested {
			t.fillSlots() // a new bidder need not wait a whole interval for a free slot
		}
	case wire.SpeedBidResponse:
		if c.ls.sp.pr.withdrawn {
			return nil // an answer to a bid we withdrew since
		}
		if c.ls.sp.sentBid == 0 || m.Price > c.ls.sp.sentBid {
			return protocolErr("bid-response price %d above our bid %d", m.Price, c.ls.sp.sentBid)
		}
		c.ls.sp.quoted = m.Price
		c.ls.sp.quotedN++
		t.s.log.Info("speed: won a slot", "provider", c, "price", m.Price, "bid", c.ls.sp.sentBid)
		t.onBidResponse(c, m)
	case wire.SpeedReservePrice:
		c.ls.sp.reserve = m.Price
		t.answerChallenge(c, m)
	case wire.SpeedSourceProof:
		t.onSourceProof(c, m)
	case wire.SpeedChannelOpen:
		t.onChannelOpen(c, m)
	case wire.SpeedVoucher:
		t.onVoucher(c, m)
	case wire.SpeedPaymentAck:
		t.onPaymentAck(c, m)
	case wire.SpeedPaymentReject:
		t.onPaymentReject(c, m)
	}
	return nil
}

// answerChallenge proves we hold the challenged chunk, when we do: a provider that learns
// another peer holds its torrent lowers its reserve price to 0.
func (t *torrent) answerChallenge(c *conn, m wire.SpeedMessage) {
	if int(m.Piece) >= t.layout.NumPieces || !t.picker.Have().Has(int(m.Piece)) {
		return
	}
	data, err := t.readChunk(m.Piece, m.Chunk)
	if err != nil {
		return // not a chunk of this torrent: nothing to prove
	}
	proof := bidext.SourceProof(m.Salt, t.infoHash[:], m.Piece, m.Chunk, data)
	t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedSourceProof, Piece: m.Piece, Chunk: m.Chunk, Salt: m.Salt, Proof: proof})
}

// readChunk returns one 16 KiB chunk (the last of a piece may be shorter), cached and
// within a budget of disk reads (bidext.ChunkCache, see chunkcache.go).
func (t *torrent) readChunk(p, chunk uint32) ([]byte, error) { return t.chunks.Read(p, chunk) }

func (t *torrent) onSourceProof(c *conn, m wire.SpeedMessage) {
	err := t.speed.possession.Verify(m.Salt, m.Piece, m.Chunk, m.Proof, t.readChunk)
	if err != nil {
		t.stats.badProofs.Add(1)
		t.s.log.Info("speed: source proof refused", "peer", c, "err", err)
		return
	}
	t.speed.proofs++
	t.stats.proofs.Add(1)
	t.speed.heldAt = time.Now()
	t.s.log.Info("speed: source proof accepted; reserve reset", "peer", c)
	t.updateReserve()
}

// updateReserve recomputes the reserve price and announces a change to every Speed peer.
func (t *torrent) updateReserve() {
	if !t.speed.eff.Auction {
		return
	}
	r := t.speed.eff.Reserve.At(time.Since(t.speed.heldAt))
	if r == t.speed.reserve {
		return
	}
	t.speed.reserve = r
	t.speed.committed.Announce(time.Now(), r)
	for _, c := range t.conns {
		if c.ls.sp.id != 0 {
			t.sendReserve(c)
		}
	}
}

// speedTick runs every second: re-bid when auto-bid says so, and keep the reserve current.
func (t *torrent) speedTick(now time.Time) {
	if !t.speedOn() {
		return
	}
	for _, c := range t.conns {
		if err := t.checkClaim(c, now); err != nil {
			c.close(err)
		}
	}
	// Only a valid source proof (or our own completion) says another peer holds the torrent:
	// a bitfield that claims so is exactly what proofs exist to check.
	t.updateReserve()
	if t.picker.Complete() {
		return
	}
	// One budget for the session: the bid is the price at which what is left of it buys all
	// the data every bidding torrent still wants (never compounded on what remains).
	t.bidding.Store(t.speed.eff.Bid && t.speed.bidder.Enabled())
	spendable, remaining, maxPrice := t.s.spendable()
	t.speed.bidder.SetMaxPrice(maxPrice)
	bid, send := t.speed.bidder.Next(now, spendable, remaining)
	if !send {
		return
	}
	balance := spendable
	for _, c := range t.conns {
		if c.ls.sp.id != 0 && t.picker.Interesting(c.key) && !c.ls.sp.pr.withdrawn {
			t.sendSpeed(c, wire.SpeedMessage{Type: wire.SpeedBid, Price: bid})
			c.ls.sp.sentBid = bid
		}
	}
	t.s.log.Info("speed: bid", "price", bid, "balance", balance, "remaining", remaining)
}

// speedChokeInput adds c's Speed state to the choker's view of it: its bid and the terms
// it is unchoked under, or that it is barred from every slot.
func (t *torrent) speedChokeInput(c *conn, p *choke.Peer) {
	if !t.speedOn() || c.ls.sp.id == 0 {
		return
	}
	if t.payeeDefaulted(c) {
		p.Barred = true // owes us and missed a payment: no slot, not even a free one
		return
	}
	p.Speed = true
	p.Bid = c.ls.sp.bid
	p.Paying = c.ls.sp.paying
	p.Price = c.ls.sp.price
}

// paymentKey is the key auction winners pay: the wallet's, else the configured one.
func (s *Session) paymentKey() [wire.SpeedKeySize]byte {
	if w := s.speed.Wallet; w != nil {
		return w.Public()
	}
	return s.speed.Key
}

// SpeedPeer is one peer as a SpeedStatus shows it.
type SpeedPeer struct {
	Addr      netip.AddrPort
	Speed     bool   // the peer advertised Speed
	Bid       uint64 // its bid to us
	Unchoked  bool   // we unchoke it
	Paying    bool   // under an auction price
	Price     uint64 // that price
	SentBid   uint64 // our bid to it
	Quoted    uint64 // the price it told us we pay (its last bid-response)
	QuotedN   int    // bid-responses it sent us
	Reserve   uint64 // its reserve price
	Interests bool   // it is interested in us
}

// SpeedStatus is a snapshot of a torrent's Speed state.
type SpeedStatus struct {
	Enabled bool
	Reserve uint64 // our reserve price
	Bid     uint64 // our current bid (0: none)
	Proofs  int    // valid source proofs received
	Peers   []SpeedPeer
}

// Speed returns the torrent's Speed state, taken on its loop.
func (T *Torrent) Speed() SpeedStatus {
	ch := make(chan SpeedStatus, 1)
	T.t.do(func() { ch <- T.t.speedStatus() })
	select {
	case st := <-ch:
		return st
	case <-T.t.done:
		return SpeedStatus{}
	}
}

func (t *torrent) speedStatus() SpeedStatus {
	if !t.speedOn() {
		return SpeedStatus{}
	}
	st := SpeedStatus{Enabled: true, Reserve: t.speed.reserve, Proofs: t.speed.proofs}
	st.Bid, _ = t.speed.bidder.Last()
	for _, c := range t.conns {
		st.Peers = append(st.Peers, SpeedPeer{
			Addr: c.addr, Speed: c.ls.sp.id != 0, Bid: c.ls.sp.bid, Unchoked: !c.ls.amChoking,
			Paying: c.ls.sp.paying, Price: c.ls.sp.price, SentBid: c.ls.sp.sentBid,
			Quoted: c.ls.sp.quoted, QuotedN: c.ls.sp.quotedN, Reserve: c.ls.sp.reserve,
			Interests: c.ls.peerInterested,
		})
	}
	return st
}
