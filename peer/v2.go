package peer

import (
	"fmt"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/storage"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
)

// BitTorrent v2 (BEP 52): how a v2-only or hybrid torrent's files and merkle trees become
// storage's layout and piece checks, and how its info-hashes name it on the wire.

// streamLength is the length of the torrent's byte stream on the wire. A v2-only
// torrent's last file is padded to a whole piece too: libtorrent 2.0 lays v2 torrents out
// so, and asks for the last piece's blocks in full (BEP 52 defines pieces per file, not a
// stream, so this is the only layout peers can agree on).
func streamLength(info *metainfo.Info) int64 {
	if info.MetaVersion == 2 && !info.HasV1() {
		return int64(info.NumPieces()) * info.PieceLength
	}
	return info.TotalLength
}

// storageFiles lists the torrent's files for storage. A v2-only torrent's metainfo has no
// pad files, only offsets aligned to piece boundaries; pads are put back in the gaps and
// after the last file, so that storage's byte stream is the one on the wire.
func storageFiles(info *metainfo.Info) []storage.File {
	var out []storage.File
	var off int64
	for _, f := range info.Files {
		if f.Symlink {
			continue // BEP 47 symlinks carry no data
		}
		if f.Offset > off {
			out = append(out, storage.File{Path: []string{".pad", fmt.Sprint(f.Offset - off)}, Length: f.Offset - off, Pad: true})
		}
		out = append(out, storage.File{Path: f.Path, Length: f.Length, Pad: f.Pad})
		off = f.Offset + f.Length
	}
	if end := streamLength(info); end > off {
		out = append(out, storage.File{Path: []string{".pad", fmt.Sprint(end - off)}, Length: end - off, Pad: true})
	}
	return out
}

// v2Pieces returns every piece's merkle check for a v2-only or hybrid torrent, nil for a
// v1 torrent. Files longer than one piece need their piece layer, from the .torrent's
// "piece layers" (metainfo.MetaInfo.PieceLayers, already checked against each pieces
// root when parsed).
func v2Pieces(info *metainfo.Info, layers map[[32]byte][]byte) ([]storage.V2Piece, error) {
	if info.MetaVersion != 2 {
		return nil, nil
	}
	pl := info.PieceLength
	out := make([]storage.V2Piece, info.NumPieces())
	set := 0
	for _, f := range info.Files {
		if f.Pad || f.Symlink || f.Length == 0 {
			continue
		}
		if f.Offset%pl != 0 {
			return nil, fmt.Errorf("peer: v2 file %q does not start on a piece boundary", f.Path)
		}
		first := int(f.Offset / pl)
		g := piece.NewFileGeometry(f.Length, pl)
		if first+g.Pieces() > len(out) {
			return nil, fmt.Errorf("peer: v2 file %q runs past the torrent's %d pieces", f.Path, len(out))
		}
		if g.Pieces() == 1 {
			out[first] = storage.V2Piece{Root: f.PiecesRoot, Data: f.Length, Width: 1 << g.Layers()}
			set++
			continue
		}
		layer, ok := layers[f.PiecesRoot]
		if !ok && info.HasV1() {
			return nil, nil // a hybrid without its layers is checked by its v1 hashes alone
		}
		if !ok || len(layer) != 32*g.Pieces() {
			return nil, fmt.Errorf("peer: v2 file %q: piece layer missing (the torrent must carry its piece layers)", f.Path)
		}
		for p := range g.Pieces() {
			out[first+p] = storage.V2Piece{
				Root:  [32]byte(layer[32*p:]),
				Data:  min(pl, f.Length-int64(p)*pl),
				Width: 1 << g.PieceLayer,
			}
			set++
		}
	}
	if set != len(out) {
		return nil, fmt.Errorf("peer: v2 files cover %d of %d pieces", set, len(out))
	}
	return out, nil
}

// truncatedV2 is the 20-byte name a v2 or hybrid torrent has in v2 handshakes, trackers
// and the DHT: its SHA-256 info-hash cut to 20 bytes. ok is false for v1.
func truncatedV2(info *metainfo.Info) (ih [20]byte, ok bool) {
	h, ok := info.HashV2()
	return [20]byte(h[:20]), ok
}

// lookupV2 finds the hybrid torrent whose truncated v2 info-hash is ih: a v2 peer names a
// hybrid torrent so (v2-only torrents are already keyed by it). It scans the torrents,
// which costs one comparison per torrent for a handshake naming none. s.mu is held.
func (s *Session) lookupV2(ih [20]byte) *Torrent {
	for _, T := range s.torrents {
		if h, ok := truncatedV2(T.t.info); ok && h == ih {
			return T
		}
	}
	return nil
}

// isV2 reports whether the torrent has a v2 side, so our handshakes set the BEP 52 bit.
func isV2(info *metainfo.Info) bool { return info.MetaVersion == 2 }

// answerHash is the info-hash our handshake answers an incoming one with: the one it
// named, except that a v1 handshake for a hybrid torrent that sets the v2 bit is upgraded
// to v2 by answering with the truncated v2 hash, as libtorrent does (BEP 52).
func answerHash(info *metainfo.Info, h wire.Handshake) [20]byte {
	if h2, ok := truncatedV2(info); ok && h.Reserved.SupportsV2() {
		return h2
	}
	return h.InfoHash
}

// sameTorrent reports whether a handshake answering ours for ih names the same torrent: ih
// itself, or, for a hybrid torrent, its truncated v2 hash (a v2 peer upgrades the
// connection so when our handshake sets the v2 bit, as libtorrent does).
func (s *Session) sameTorrent(ih, got [20]byte) bool {
	if got == ih {
		return true
	}
	T := s.lookup(ih)
	if T == nil {
		return false
	}
	h2, ok := truncatedV2(T.t.info)
	return ok && got == h2
}

// speaksV2 reports whether a connection whose peer sent handshake h speaks BEP 52: it named
// the torrent by its v2 hash, or set the v2 bit. libtorrent sets the bit only to offer a
// hybrid torrent's upgrade, so a v2-only torrent's peers are known by the hash.
func speaksV2(info *metainfo.Info, h wire.Handshake) bool {
	h2, ok := truncatedV2(info)
	return ok && (h.InfoHash == h2 || h.Reserved.SupportsV2())
}
