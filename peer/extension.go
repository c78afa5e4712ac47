package peer

import (
	"github.com/speedbt/btt/wire"
)

// Our extended message ids: what peers must use when sending each extension to us.
const (
	extIDMetadata = 2 // BEP 9 ut_metadata (the id libtorrent uses too)
)

// extHandshake builds our BEP 10 handshake for c.
func (t *torrent) extHandshake(c *conn) wire.Message {
	h := wire.ExtendedHandshake{
		M:            map[string]int{wire.ExtMetadata: extIDMetadata},
		V:            t.s.settings.ClientVersion,
		Reqq:         t.s.settings.MaxPeerRequests,
		MetadataSize: len(t.info.Bytes()),
	}
	if t.pexOn() {
		h.M[wire.ExtPEX] = extIDPEX
	}
	t.speedHandshake(&h)
	t.uploadOnlyHandshake(&h)
	if ip := c.addr.Addr().Unmap(); ip.IsValid() {
		h.YourIP = ip.AsSlice()
	}
	h.P = t.s.listenPort()
	payload := wire.AppendExtendedHandshake(nil, h)
	return wire.Message{Type: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: payload}
}

func (t *torrent) onExtended(c *conn, m wire.Message) error {
	if !c.extended() {
		return protocolErr("extended message without the BEP 10 bit")
	}
	switch m.ExtID {
	case wire.ExtHandshakeID:
		h, err := wire.ParseExtendedHandshake(m.Payload)
		if err != nil {
			return err
		}
		// A later handshake updates the earlier one (BEP 10): only keys sent change. Only
		// the ids of extensions we send are kept, so repeated handshakes full of new names
		// cost nothing (the table is two bytes).
		c.ls.ext.update(h.M)
		if h.Reqq > 0 {
			c.ls.ext.reqq = h.Reqq
		}
		t.speedPeerHandshake(c, h)
		t.pexHandshake(c, h)
		t.learnListenAddr(c, h)
		c.ls.uploadOnly = peerUploadOnly(h)
		if c.ls.uploadOnly && t.picker.Complete() {
			c.closeAfterSend(errBothUploadOnly)
		}
	case extIDMetadata:
		return t.onMetadata(c, m.Payload)
	case extIDSpeed:
		return t.onSpeed(c, m.Payload)
	case extIDPEX:
		return t.onPEX(c, m.Payload)
	default:
		// An extension we did not advertise: BEP 10 peers must not send it; ignore rather
		// than drop, as mainstream clients do.
	}
	return nil
}
