package fuzz

import (
	"bytes"
	"testing"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

// FuzzWireHashes decodes BEP 52 hash request/reject and hashes payloads: a payload that
// decodes re-encodes to exactly its bytes, carries exactly the hashes its header asks for,
// its range is checked against a file's tree, and its proof checked, without panicking.
func FuzzWireHashes(f *testing.F) {
	r := wire.HashReq{PiecesRoot: [32]byte{1}, BaseLayer: 2, Index: 0, Length: 4, ProofLayers: 5}
	f.Add(wire.HashRequestMessage(wire.HashRequest, r).Payload, int64(10<<20), uint8(2))
	f.Add(wire.HashesMessage(r, make([][32]byte, 4+r.UncleCount())).Payload, int64(1<<20), uint8(0))
	f.Add(wire.HashRequestMessage(wire.HashReject, wire.HashReq{Length: 1}).Payload, int64(1), uint8(5))
	f.Fuzz(func(t *testing.T, payload []byte, fileLength int64, pieceLog uint8) {
		if req, err := wire.ParseHashRequest(payload); err == nil {
			if got := wire.HashRequestMessage(wire.HashRequest, req).Payload; !bytes.Equal(got, payload) {
				t.Fatalf("request re-encoded %x, input %x", got, payload)
			}
			checkRange(req, fileLength, pieceLog)
		}
		req, hs, err := wire.ParseHashes(payload)
		if err != nil {
			return
		}
		if len(hs) != int(req.Length)+req.UncleCount() {
			t.Fatalf("%d hashes for length %d and %d uncles", len(hs), req.Length, req.UncleCount())
		}
		if got := wire.HashesMessage(req, hs).Payload; !bytes.Equal(got, payload) {
			t.Fatalf("hashes re-encoded %x, input %x", got, payload)
		}
		checkRange(req, fileLength, pieceLog)
		// Checking a proof of any shape must not panic; a random one must not verify
		// against a root it was not made from.
		if _, ok := piece.VerifyProof([32]byte{0xee}, int(req.BaseLayer), int(req.Index), int(req.Length), int(req.ProofLayers), hs); ok {
			t.Fatalf("hashes %x verified against a made-up root", payload)
		}
	})
}

func checkRange(r wire.HashReq, fileLength int64, pieceLog uint8) {
	if fileLength <= 0 || fileLength > 1<<40 {
		return
	}
	g := piece.NewFileGeometry(fileLength, piece.BlockSize<<(pieceLog%12))
	if g.CheckRange(int(r.BaseLayer), int(r.Index), int(r.Length), int(r.ProofLayers)) {
		// In range: the layer has those nodes.
		if int(r.Index)+int(r.Length) > g.Width(int(r.BaseLayer)) {
			panic("CheckRange accepted a range past its layer")
		}
	}
}
