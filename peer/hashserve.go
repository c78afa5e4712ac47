package peer

import (
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

// Serving BEP 52 hash requests. A v2 peer that lacks a file's piece layer (it joined by a
// magnet link) or wants the block hashes of a piece that failed asks with hash request
// messages; we answer from the piece layers the torrent carries and, below the piece
// layer, from the leaf hashes of verified pieces read back from disk.

// maxLeafAnswers bounds the answers below the piece layer one connection gets: each reads
// a piece back from disk on the torrent's loop, and a peer needs them only for pieces that
// failed its hash check, which are few (libtorrent asks for nothing else below the layer).
const maxLeafAnswers = 32

// maxHashTrees bounds the files whose upper trees a torrent keeps built for answering.
// Each costs about twice its piece layer; the piece layers themselves are bounded by the
// metainfo size limit.
const maxHashTrees = 64

// fileTree is what we answer one file's hash requests from.
type fileTree struct {
	g     piece.FileGeometry
	first int          // the file's first piece
	upper [][][32]byte // layers from the piece layer to the root, padded; nil for a one-piece file
	sub   [][][32]byte // the layers below the piece layer of piece subPiece, once read
	subOf int          // the piece sub was built for, -1 for none
}

// onHashRequest answers a hash request with hashes, or with a hash reject when the request
// names no file of ours, lies outside the file's tree, or needs data we have not verified.
func (t *torrent) onHashRequest(c *conn, m wire.Message) error {
	req, err := wire.ParseHashRequest(m.Payload)
	if err != nil {
		return protocolErr("hash request: %v", err)
	}
	below := int(req.BaseLayer) < piece.Log2Ceil(int(t.info.PieceLength/piece.BlockSize))
	if below && c.leafAnswers >= maxLeafAnswers {
		c.send(wire.HashRequestMessage(wire.HashReject, req))
		return nil
	}
	hs, ok := t.answerHashes(req)
	if ok && below {
		c.leafAnswers++
	}
	if !ok {
		c.send(wire.HashRequestMessage(wire.HashReject, req))
		return nil
	}
	c.send(wire.HashesMessage(req, hs))
	t.stats.hashesServed.Add(1)
	return nil
}

func (t *torrent) answerHashes(req wire.HashReq) ([][32]byte, bool) {
	ft := t.hashTree(req.PiecesRoot)
	if ft == nil {
		return nil, false
	}
	base, index, count, proof := int(req.BaseLayer), int(req.Index), int(req.Length), int(req.ProofLayers)
	if !ft.g.CheckRange(base, index, count, proof) {
		return nil, false
	}
	top := min(ft.g.PieceLayer, ft.g.Layers())
	// Below the piece layer the answer comes from one piece's data: a range spanning
	// pieces would make one request read many (libtorrent asks one piece at a time).
	if base < top && (index>>(top-base)) != ((index+count-1)>>(top-base)) {
		return nil, false
	}
	return piece.ProofHashes(base, index, count, proof, func(layer, i int) ([32]byte, bool) {
		return t.treeNode(ft, layer, i)
	})
}

// treeNode is node i of the given layer of a file's tree.
func (t *torrent) treeNode(ft *fileTree, layer, i int) ([32]byte, bool) {
	top := min(ft.g.PieceLayer, ft.g.Layers())
	if layer >= top && ft.upper != nil {
		return ft.upper[layer-top][i], true
	}
	p := i >> (top - layer)
	if p >= ft.g.Pieces() {
		return piece.ZeroHash(layer), true
	}
	if ft.subOf != p {
		leaves, ok := t.pieceLeaves(ft.first + p)
		if !ok {
			return [32]byte{}, false
		}
		ft.sub, ft.subOf = piece.Layers(leaves, 1<<top, 0), p
	}
	return ft.sub[layer][i-p<<(top-layer)], true
}

// pieceLeaves reads a verified piece back and returns the leaf hashes of its file data.
func (t *torrent) pieceLeaves(p int) ([][32]byte, bool) {
	if !t.store.Have(p) || t.v2 == nil {
		return nil, false
	}
	data := make([]byte, t.v2[p].Data)
	if err := t.store.ReadBlock(p, 0, data); err != nil {
		return nil, false
	}
	return piece.BlockLeaves(nil, data), true
}

// hashTree returns the answering state of the file whose pieces root is root, building it
// on first use; nil for no such file.
func (t *torrent) hashTree(root [32]byte) *fileTree {
	if ft := t.hashTrees[root]; ft != nil {
		return ft
	}
	if t.v2 == nil {
		return nil
	}
	for _, f := range t.info.Files {
		if f.Pad || f.Length == 0 || f.PiecesRoot != root {
			continue
		}
		ft := &fileTree{g: piece.NewFileGeometry(f.Length, t.info.PieceLength), first: int(f.Offset / t.info.PieceLength), subOf: -1}
		if ft.g.Pieces() > 1 {
			layer := make([][32]byte, ft.g.Pieces())
			for i := range layer {
				layer[i] = t.v2[ft.first+i].Root
			}
			ft.upper = piece.Layers(layer, ft.g.Width(ft.g.PieceLayer), ft.g.PieceLayer)
		}
		if t.hashTrees == nil || len(t.hashTrees) >= maxHashTrees {
			t.hashTrees = make(map[[32]byte]*fileTree)
		}
		t.hashTrees[root] = ft
		return ft
	}
	return nil
}
