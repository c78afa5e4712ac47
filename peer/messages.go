package peer

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

// errProtocol marks a peer's breach of the protocol.
type errProtocol struct{ msg string }

func (e *errProtocol) Error() string { return "peer: protocol violation: " + e.msg }

func protocolErr(format string, args ...any) error {
	return &errProtocol{fmt.Sprintf(format, args...)}
}

func (t *torrent) onMessage(c *conn, m wire.Message) error {
	switch m.Type {
	case wire.Choke:
		c.ls.peerChoking = true
		t.payerChoked(c) // a choke ends the price in force
		if !c.fast() {
			// Without the fast extension a choke cancels every request implicitly.
			t.releaseAll(c)
		}
	case wire.Unchoke:
		c.ls.peerChoking = false
		t.fillRequests(c)
	case wire.Interested:
		c.ls.peerInterested = true
		t.fillSlots()
	case wire.NotInterested:
		c.ls.peerInterested = false
		if !c.ls.amChoking {
			// Its slot frees: it wants nothing more (libtorrent chokes it too).
			t.chokePeer(c, time.Now())
			t.fillSlots()
		}
	case wire.Have:
		if int(m.Index) >= t.layout.NumPieces {
			return protocolErr("have %d of %d pieces", m.Index, t.layout.NumPieces)
		}
		if c.ls.has.Set(int(m.Index)) {
			if err := t.picker.PeerHave(c.key, int(m.Index)); err != nil {
				return err
			}
		}
		t.payeeHave(c, m.Index) // no more of it goes to the requester: its reservation ends
		if t.superSeeding() {
			t.superOnHave(c, m.Index)
		}
		t.updateInterest(c)
		t.fillRequests(c)
	case wire.Bitfield:
		bf, err := piece.FromBytes(m.Payload, t.layout.NumPieces)
		if err != nil {
			return protocolErr("bitfield: %v", err)
		}
		c.ls.has = bf
		if err := t.picker.PeerBitfield(c.key, bf); err != nil {
			return err
		}
		if t.superSeeding() {
			t.superOnBitfield(c)
		}
		t.retryBlockHashes()
		t.updateInterest(c)
		t.fillRequests(c)
	case wire.HaveAll, wire.HaveNone:
		if !c.fast() {
			return protocolErr("%v without the fast extension", m.Type)
		}
		if m.Type == wire.HaveAll {
			c.ls.has.SetAll()
			if err := t.picker.PeerHaveAll(c.key); err != nil {
				return err
			}
			t.retryBlockHashes()
		}
		t.updateInterest(c)
		t.fillRequests(c)
	case wire.Request:
		return t.onRequest(c, m)
	case wire.Cancel:
		b := piece.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length}
		if c.cancelUpload(b) {
			t.payeeCancelled(c, m) // never sent: not billed
			if c.fast() {
				// BEP 6: every request gets a piece or a reject, cancelled ones included.
				c.send(wire.Message{Type: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
			}
		}
	case wire.Reject:
		if !c.fast() {
			return protocolErr("reject without the fast extension")
		}
		b := piece.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length}
		c.removeRequested(b)
		t.picker.Release(c.key, b)
		t.fillRequests(c)
	case wire.AllowedFast:
		if int(m.Index) < t.layout.NumPieces {
			if c.ls.allowedFast == nil {
				c.ls.allowedFast = map[uint32]struct{}{}
			}
			if len(c.ls.allowedFast) < 64 {
				c.ls.allowedFast[m.Index] = struct{}{}
				t.picker.PeerAllowedFast(c.key, int(m.Index))
			}
			t.fillRequests(c)
		}
	case wire.Suggest:
		if int(m.Index) < t.layout.NumPieces {
			t.picker.PeerSuggest(c.key, int(m.Index))
		}
	case wire.Extended:
		return t.onExtended(c, m)
	case wire.HashRequest:
		return t.onHashRequest(c, m)
	case wire.Hashes:
		return t.onHashes(c, m)
	case wire.HashReject:
		return t.onHashReject(c, m)
	case wire.Port:
		// BEP 5: the peer runs a DHT node there; a ping adds it to our routing table.
		if node := t.s.dht; node != nil && m.Port != 0 {
			ap := netip.AddrPortFrom(c.addr.Addr().Unmap(), m.Port)
			t.s.wg.Add(1)
			go func() {
				defer t.s.wg.Done()
				ctx, cancel := context.WithTimeout(t.s.ctx, 5*time.Second)
				defer cancel()
				node.Ping(ctx, ap)
			}()
		}
	default:
		// Unknown message ids are ignored (BEP 3 says to, and new extensions rely on it).
	}
	return nil
}

func (t *torrent) onRequest(c *conn, m wire.Message) error {
	b := piece.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length}
	if !t.layout.Valid(b) || m.Length > piece.BlockSize*8 {
		return protocolErr("request for invalid block %v", b)
	}
	reject := func() {
		if c.fast() {
			c.send(wire.Message{Type: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
		}
	}
	if !t.picker.Have().Has(int(m.Index)) || (t.superSeeding() && !t.superAllows(c, m.Index)) {
		reject()
		return nil
	}
	if c.ls.amChoking && !t.allowedFastFor(c, m.Index) {
		reject() // a request racing our choke; fast peers are told, others just wait
		return nil
	}
	if int(c.queuedUploads.Load()) >= t.s.settings.MaxPeerRequests {
		reject()
		return nil
	}
	if t.payeeServe(c, m) {
		return nil // held by the exposure bound until the requester pays
	}
	if t.speedOn() {
		t.speed.possession.Uploaded(m.Index, m.Begin, m.Length)
	}
	c.queuedUploads.Add(1)
	c.send(wire.Message{Type: wire.Piece, Index: m.Index, Begin: m.Begin, Length: m.Length})
	return nil
}
