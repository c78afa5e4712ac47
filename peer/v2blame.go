package peer

import (
	"net/netip"
	"slices"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

// Block-level blame by the merkle tree (BEP 52). When a v2 piece fails, we keep the leaves
// of the failed attempt and ask a v2 peer that has the piece for its block hashes (a hash
// request for the leaf layer under the piece), check them against the piece's node, and
// compare: the blocks that differ are the bad ones. If the answer comes before the piece
// verifies, their senders get a strike at once in the smart ban's book (smartban.go) and
// the attempt is marked struck, so the later comparison by data does not strike it again;
// after, the data comparison has already struck them and the tree only confirms. A peer
// that sent none of the attempt's blocks is asked first; a piece is asked of one peer at
// a time, each peer once, again every second until one proves its answer.
//
// Bound: t.blockHashWants holds one entry per v2 piece failed and not yet explained by a
// proven answer: one piece's leaves and the peers asked (at most the connections);
// t.blockHashAsks one request per such piece, dropped on the answer, a reject or the
// peer's close.

// blockHashAsk is an outstanding hash request for a failed piece's block hashes.
type blockHashAsk struct {
	req  wire.HashReq
	peer piece.PeerKey
}

// blockHashWant is a failed piece waiting for its block hashes.
type blockHashWant struct {
	leaves []([32]byte)    // the failed attempt's leaves
	asked  []piece.PeerKey // peers asked already
}

// wantBlockHashes records failed piece i's attempt and asks for its block hashes.
func (t *torrent) wantBlockHashes(i int) {
	if t.v2 == nil {
		return
	}
	leaves := t.store.FailedLeaves(i)
	if leaves == nil {
		return
	}
	if t.blockHashWants == nil {
		t.blockHashWants = make(map[int]*blockHashWant)
	}
	w := t.blockHashWants[i]
	if w == nil {
		w = &blockHashWant{}
		t.blockHashWants[i] = w
	}
	w.leaves = leaves
	t.askBlockHashes(i)
}

// retryBlockHashes asks again for the pieces no request is out for: each second, and when a
// peer says what it has (it may be the first that can answer).
func (t *torrent) retryBlockHashes() {
	for i := range t.blockHashWants {
		t.askBlockHashes(i)
	}
}

// blockHashReq is the request for piece i's leaves, with no proof: its root is known. ok
// is false for a piece of one block (its sender is the only suspect already).
func (t *torrent) blockHashReq(i int) (wire.HashReq, bool) {
	pl := t.info.PieceLength
	for _, f := range t.info.Files {
		if f.Pad || f.Symlink || f.Length == 0 {
			continue
		}
		first := int(f.Offset / pl)
		g := piece.NewFileGeometry(f.Length, pl)
		if i < first || i >= first+g.Pieces() {
			continue
		}
		top := min(g.PieceLayer, g.Layers())
		if top == 0 {
			return wire.HashReq{}, false
		}
		return wire.HashReq{
			PiecesRoot:  f.PiecesRoot,
			BaseLayer:   0,
			Index:       uint32((i - first) << top),
			Length:      1 << top,
			ProofLayers: uint32(top - 1), // the range's own subtree reaches the piece node: no uncles
		}, true
	}
	return wire.HashReq{}, false
}

// askBlockHashes sends the request for failed piece i's block hashes to a v2 peer that has
// the piece, if there is one and no request for it is out.
func (t *torrent) askBlockHashes(i int) {
	w := t.blockHashWants[i]
	if w == nil {
		return
	}
	if _, out := t.blockHashAsks[i]; out {
		return
	}
	req, ok := t.blockHashReq(i)
	if !ok {
		return
	}
	// Ask a peer that sent no block of the failed attempt first: a liar would answer
	// with hashes of its own data, which the piece root refutes, and we would learn nothing.
	var senders []netip.Addr
	if atts := t.failedBy[i]; len(atts) > 0 {
		senders = atts[len(atts)-1].by
	}
	for _, outsider := range []bool{true, false} {
		for _, c := range t.conns {
			a := c.addr.Addr().Unmap()
			if !c.v2 || !c.ls.has.Has(i) || t.s.banned(a) || outsider && containsAddr(senders, a) ||
				slices.Contains(w.asked, c.key) {
				continue
			}
			w.asked = append(w.asked, c.key)
			t.s.log.Debug("asking for block hashes", "piece", i, "addr", c.addr)
			if t.blockHashAsks == nil {
				t.blockHashAsks = make(map[int]blockHashAsk)
			}
			t.blockHashAsks[i] = blockHashAsk{req: req, peer: c.key}
			c.send(wire.HashRequestMessage(wire.HashRequest, req))
			return
		}
	}
}

// onHashes takes a hashes message: the answer to a block hash request of ours is checked
// and used to blame; anything else is ignored (we ask for nothing else).
func (t *torrent) onHashes(c *conn, m wire.Message) error {
	req, hs, err := wire.ParseHashes(m.Payload)
	if err != nil {
		return protocolErr("hashes: %v", err)
	}
	i, ok := t.askedPiece(c, req)
	if !ok {
		return nil
	}
	delete(t.blockHashAsks, i)
	if piece.MerkleRoot(hs[:req.Length], int(req.Length), 0) != t.v2[i].Root {
		// Not the piece's hashes: the peer cannot tell us, and lied about it; the piece's
		// later verification still blames by comparing data.
		t.s.log.Info("block hashes do not match the piece root", "piece", i, "addr", c.addr)
		return nil
	}
	t.blameByLeaves(i, hs[:req.Length])
	delete(t.blockHashWants, i)
	return nil
}

// onHashReject forgets an asked piece so that a later failure asks another peer.
func (t *torrent) onHashReject(c *conn, m wire.Message) error {
	req, err := wire.ParseHashRequest(m.Payload)
	if err != nil {
		return protocolErr("hash reject: %v", err)
	}
	if i, ok := t.askedPiece(c, req); ok {
		t.s.log.Info("block hash request rejected", "piece", i, "addr", c.addr)
		delete(t.blockHashAsks, i)
	}
	return nil
}

// askedPiece finds the piece whose block hashes we asked c for with req.
func (t *torrent) askedPiece(c *conn, req wire.HashReq) (int, bool) {
	for i, a := range t.blockHashAsks {
		if a.peer == c.key && a.req == req {
			return i, true
		}
	}
	return 0, false
}

// blameByLeaves compares piece i's latest failed attempt with its true block hashes good
// and strikes the senders of the blocks that differ, unless the attempt was struck already.
func (t *torrent) blameByLeaves(i int, good [][32]byte) {
	w := t.blockHashWants[i]
	if w == nil {
		return
	}
	var att *failedAttempt
	if atts := t.failedBy[i]; len(atts) > 0 {
		att = &atts[len(atts)-1]
	}
	var struck []netip.Addr
	for j := range min(len(w.leaves), len(good)) {
		if w.leaves[j] == good[j] {
			continue
		}
		t.stats.treeBlamed.Add(1)
		if att == nil || att.struck || j >= len(att.by) {
			continue // verified already and blamed by data, or struck as a whole
		}
		if a := att.by[j]; a.IsValid() && !containsAddr(struck, a) {
			struck = append(struck, a)
			t.strike(a, "sent a block its merkle tree refutes")
		}
	}
	if att != nil {
		att.struck = true
	}
}

// forgetHashAsks drops the requests outstanding at a closing connection.
func (t *torrent) forgetHashAsks(c *conn) {
	for i, a := range t.blockHashAsks {
		if a.peer == c.key {
			delete(t.blockHashAsks, i)
		}
	}
}
