package peer

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
)

// TestHashRequestsServed: a raw v2 peer asks our seeder of a v2-only torrent for ranges
// of a file's tree; each answer is checked by its proof against the file's pieces root,
// and requests outside the tree, or across pieces below the piece layer, are rejected.
func TestHashRequestsServed(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, "hs", []int{300_000, 5000}, 32<<10, 21)
	mi, err := metainfo.Create(context.Background(), filepath.Join(dir, "hs"), metainfo.CreateOptions{PieceLength: 32 << 10, V2Only: true})
	if err != nil {
		t.Fatal(err)
	}
	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir, PieceLayers: mi.PieceLayers}); err != nil {
		t.Fatal(err)
	}
	f := mi.Info.Files[0]
	root := f.PiecesRoot
	g := piece.NewFileGeometry(f.Length, mi.Info.PieceLength) // 19 blocks: 32 leaves, 5 layers; pieces at 1
	layer := mi.PieceLayers[root]
	nc, r := dialFast(t, seeder.Addr().String(), mi.Info.Hash())
	ask := func(req wire.HashReq) (wire.MessageType, [][32]byte) {
		t.Helper()
		send(t, nc, wire.HashRequestMessage(wire.HashRequest, req))
		for {
			m, err := r.ReadMessage()
			if err != nil {
				t.Fatalf("%+v: %v", req, err)
			}
			switch m.Type {
			case wire.Hashes:
				got, hs, err := wire.ParseHashes(m.Payload)
				if err != nil || got != req {
					t.Fatalf("answer %+v, %v to %+v", got, err, req)
				}
				return wire.Hashes, hs
			case wire.HashReject:
				if got, err := wire.ParseHashRequest(m.Payload); err != nil || got != req {
					t.Fatalf("reject %+v, %v to %+v", got, err, req)
				}
				return wire.HashReject, nil
			}
		}
	}
	L, P := g.Layers(), g.PieceLayer
	// The whole piece layer, proven to the root.
	typ, hs := ask(wire.HashReq{PiecesRoot: root, BaseLayer: uint32(P), Length: uint32(g.Width(P)), ProofLayers: uint32(L - P - 1)})
	nodes, ok := piece.VerifyProof(root, P, 0, g.Width(P), L-P-1, hs)
	if typ != wire.Hashes || !ok {
		t.Fatalf("piece layer: %v, proof ok %v", typ, ok)
	}
	for i := range g.Pieces() {
		if nodes[i] != [32]byte(layer[32*i:]) {
			t.Fatalf("piece layer node %d differs from the torrent's", i)
		}
	}
	// Piece 3's two leaves, from its data, proven to the root through the upper tree.
	typ, hs = ask(wire.HashReq{PiecesRoot: root, BaseLayer: 0, Index: 6, Length: 2, ProofLayers: uint32(L - 1)})
	if _, ok := piece.VerifyProof(root, 0, 6, 2, L-1, hs); typ != wire.Hashes || !ok {
		t.Fatalf("leaves of piece 3: %v, proof ok %v", typ, ok)
	}
	if piece.MerkleRoot(hs[:2], 2, 0) != [32]byte(layer[32*3:]) {
		t.Fatal("leaves of piece 3 do not hash to its piece-layer node")
	}
	for _, bad := range []wire.HashReq{
		{PiecesRoot: [32]byte{1}, Length: 2},                    // no such file
		{PiecesRoot: root, Index: 32, Length: 1},                // past the leaf layer
		{PiecesRoot: root, Index: 30, Length: 4},                // runs past it
		{PiecesRoot: root, BaseLayer: uint32(L), Length: 1},     // the root's layer
		{PiecesRoot: root, Length: 2, ProofLayers: uint32(L)},   // proof up to the root itself
		{PiecesRoot: root, Index: 0, Length: 4, ProofLayers: 1}, // leaves of two pieces
		{PiecesRoot: mi.Info.Files[1].PiecesRoot, Length: 1},    // a file of one block has no layers to ask
	} {
		if typ, _ := ask(bad); typ != wire.HashReject {
			t.Errorf("%+v answered with %v, want a reject", bad, typ)
		}
	}
	// A malformed request (length 0) is a protocol violation: the seeder hangs up.
	send(t, nc, wire.Message{Type: wire.HashRequest, Payload: make([]byte, 48)})
	for {
		if _, err := r.ReadMessage(); err != nil {
			break
		}
	}
}

// TestLeafAnswersBounded: answers below the piece layer read a piece from disk on the
// torrent's loop, so one connection gets at most maxLeafAnswers of them; piece-layer
// answers, which read nothing, go on.
func TestLeafAnswersBounded(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, "lb", []int{300_000}, 32<<10, 22)
	mi, err := metainfo.Create(context.Background(), filepath.Join(dir, "lb"), metainfo.CreateOptions{PieceLength: 32 << 10, V2Only: true})
	if err != nil {
		t.Fatal(err)
	}
	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir, PieceLayers: mi.PieceLayers}); err != nil {
		t.Fatal(err)
	}
	root := mi.Info.Files[0].PiecesRoot
	nc, r := dialFast(t, seeder.Addr().String(), mi.Info.Hash())
	leaf := wire.HashReq{PiecesRoot: root, Index: 2, Length: 2}
	layer := wire.HashReq{PiecesRoot: root, BaseLayer: 1, Length: 16, ProofLayers: 3}
	var reqs []wire.Message
	for range maxLeafAnswers + 5 {
		reqs = append(reqs, wire.HashRequestMessage(wire.HashRequest, leaf))
	}
	reqs = append(reqs, wire.HashRequestMessage(wire.HashRequest, layer))
	send(t, nc, reqs...)
	hashes, rejects := 0, 0
	for hashes+rejects < len(reqs) {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("after %d hashes and %d rejects: %v", hashes, rejects, err)
		}
		switch m.Type {
		case wire.Hashes:
			hashes++
		case wire.HashReject:
			rejects++
		}
	}
	if hashes != maxLeafAnswers+1 || rejects != 5 {
		t.Errorf("%d answered, %d rejected; want %d and 5", hashes, rejects, maxLeafAnswers+1)
	}
}
