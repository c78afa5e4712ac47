package peer

import (
	"errors"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/bencode"
)

// BEP 21 (upload-only): a peer that will not download says "upload_only": 1 in its
// extension handshake. We say it while we seed, so a leecher knows at once that we want
// nothing from it and a seed need not keep a connection to us; and two upload-only sides
// have nothing to exchange, so a seed closes a connection to an upload-only peer.

const keyUploadOnly = "upload_only"

// uploadOnlyHandshake adds upload_only to our extension handshake while we seed, except
// when super-seeding (BEP 16): a super-seeder must look like a peer with few pieces, and
// libtorrent drops an upload-only peer that has nothing it wants yet.
func (t *torrent) uploadOnlyHandshake(h *wire.ExtendedHandshake) {
	if !t.picker.Complete() || t.super != nil {
		return
	}
	if h.Extra == nil {
		h.Extra = map[string]bencode.RawMessage{}
	}
	h.Extra[keyUploadOnly] = bencode.RawMessage("i1e")
}

// peerUploadOnly reports whether an extension handshake says upload_only (any non-zero
// integer, as libtorrent reads it).
func peerUploadOnly(h wire.ExtendedHandshake) bool {
	v, ok := h.Extra[keyUploadOnly]
	return ok && len(v) >= 3 && v[0] == 'i' && string(v) != "i0e"
}

// errBothUploadOnly closes a connection on which neither side wants anything.
// It is no fault of the peer: no ban.
var errBothUploadOnly = errors.New("peer: both sides upload-only (BEP 21)")
