package peer

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/magnet"
	"github.com/speedbt/btt/wire/metainfo"
)

// Joining a v2 torrent by magnet link (btmh): the info dictionary comes by BEP 9 as for v1,
// named on the wire by the truncated v2 hash and checked by SHA-256; then the piece layers,
// which the info dictionary does not hold, come by BEP 52 hash requests, each chunk checked
// against its file's pieces root by its uncle proof.

const (
	// layerChunk is the piece-layer hashes asked for per request: libtorrent asks 512 at a
	// time, and a hashes message of 512 hashes and their proof fits any reader's limit.
	layerChunk = 512
	// layerPeerTimeout bounds the piece-layer exchange with one peer.
	layerPeerTimeout = 30 * time.Second
	// maxLayerPeers bounds the peers tried for piece layers.
	maxLayerPeers = 20
)

// magnetHash is the name a magnet's torrent has on the wire: its v1 info-hash, or for a
// v2-only link the truncated v2 one.
func magnetHash(m *magnet.Magnet) [20]byte {
	if m.HasV1 {
		return m.InfoHash
	}
	return [20]byte(m.InfoHashV2[:20])
}

// metadataMatches reports whether an info dictionary hashes to every info-hash the link
// gives: SHA-1 for btih, SHA-256 for btmh.
func metadataMatches(m *magnet.Magnet, raw []byte) bool {
	if m.HasV1 && sha1.Sum(raw) != m.InfoHash {
		return false
	}
	return !m.HasV2 || sha256.Sum256(raw) == m.InfoHashV2
}

// needsPieceLayers reports whether a torrent can only be checked with piece layers it does
// not have yet: a v2-only torrent with a file longer than one piece. (A hybrid torrent
// without them is checked by its v1 hashes alone.)
func needsPieceLayers(info *metainfo.Info) bool {
	if info.MetaVersion != 2 || info.HasV1() {
		return false
	}
	for _, f := range info.Files {
		if f.Length > info.PieceLength {
			return true
		}
	}
	return false
}

// fetchPieceLayers asks peers, one at a time, for the piece layer of every file longer
// than one piece, until all are in.
func (s *Session) fetchPieceLayers(ctx context.Context, info *metainfo.Info, ih [20]byte, peers []netip.AddrPort) (map[[32]byte][]byte, error) {
	layers := map[[32]byte][]byte{}
	var errs []error
	tried := map[netip.AddrPort]bool{}
	for _, ap := range peers {
		if len(tried) >= maxLayerPeers || !piecesMissing(info, layers) {
			break
		}
		if tried[ap] {
			continue
		}
		tried[ap] = true
		if err := s.layersFrom(ctx, info, ih, ap, layers); err != nil {
			s.log.Info("piece layers", "addr", ap, "err", err)
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if piecesMissing(info, layers) {
		return nil, errors.Join(append([]error{errors.New("peer: no peer gave the torrent's piece layers")}, errs...)...)
	}
	return layers, nil
}

func piecesMissing(info *metainfo.Info, layers map[[32]byte][]byte) bool {
	for _, f := range info.Files {
		if _, ok := layers[f.PiecesRoot]; f.Length > info.PieceLength && !ok {
			return true
		}
	}
	return false
}

// layersFrom fetches the missing piece layers from the peer at ap into layers.
func (s *Session) layersFrom(ctx context.Context, info *metainfo.Info, ih [20]byte, ap netip.AddrPort, layers map[[32]byte][]byte) error {
	ctx, cancel := context.WithTimeout(ctx, layerPeerTimeout)
	defer cancel()
	nc, _, err := s.dial(ctx, ih, ap)
	if err != nil {
		return err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	r := wire.NewReader(nc, wire.DefaultMaxMessageLen)
	for _, f := range info.Files {
		if _, ok := layers[f.PiecesRoot]; f.Length <= info.PieceLength || ok {
			continue
		}
		g := piece.NewFileGeometry(f.Length, info.PieceLength)
		p, top := g.PieceLayer, g.Layers()
		count := min(g.Width(p), layerChunk)
		layer := make([]byte, 0, 32*g.Pieces())
		for index := 0; index < g.Pieces(); index += count {
			req := wire.HashReq{PiecesRoot: f.PiecesRoot, BaseLayer: uint32(p), Index: uint32(index), Length: uint32(count), ProofLayers: uint32(top - p - 1)}
			if _, err := nc.Write(wire.AppendMessage(nil, wire.HashRequestMessage(wire.HashRequest, req))); err != nil {
				return err
			}
			hs, err := awaitHashes(r, req)
			if err != nil {
				return err
			}
			nodes, ok := piece.VerifyProof(f.PiecesRoot, p, index, count, top-p-1, hs)
			if !ok {
				return fmt.Errorf("peer: %v sent piece hashes of %q that do not prove to its root", ap, f.Path)
			}
			for _, n := range nodes[:min(count, g.Pieces()-index)] {
				layer = append(layer, n[:]...)
			}
		}
		layers[f.PiecesRoot] = layer
	}
	return nil
}

// awaitHashes reads messages until the answer to req: its hashes, or an error for a reject.
// Other messages (bitfield, extension handshake) are skipped; the caller's deadline bounds
// the wait.
func awaitHashes(r *wire.Reader, req wire.HashReq) ([][32]byte, error) {
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return nil, err
		}
		switch m.Type {
		case wire.Hashes:
			got, hs, err := wire.ParseHashes(m.Payload)
			if err != nil {
				return nil, err
			}
			if got == req {
				return hs, nil
			}
		case wire.HashReject:
			if bytes.Equal(m.Payload, wire.HashRequestMessage(wire.HashReject, req).Payload) {
				return nil, errors.New("peer: hash request rejected")
			}
		}
	}
}
