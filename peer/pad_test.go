package peer

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire/metainfo"
)

// TestPadBlocksNeverRequested: a torrent with padding (BEP 47 pad files, v1 and hybrid;
// the gaps that align a v2-only torrent's files) downloads from our seeder without a
// request for a block that is padding alone: the seeder sends exactly the blocks holding
// file bytes, the leecher fills the rest with zeros, and every piece still verifies.
func TestPadBlocksNeverRequested(t *testing.T) {
	const pl = 64 << 10
	sizes := []int{5, 40_000, 100_000, 16<<10 + 3}
	for _, tc := range []struct {
		name string
		opts metainfo.CreateOptions
	}{
		{"v1 pad files", metainfo.CreateOptions{PieceLength: pl, PadFiles: true}},
		{"hybrid", metainfo.CreateOptions{PieceLength: pl, Hybrid: true}},
		{"v2-only", metainfo.CreateOptions{PieceLength: pl, V2Only: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seedDir, leechDir := t.TempDir(), t.TempDir()
			writeTree(t, seedDir, "pad", sizes, pl, 7)
			mi, err := metainfo.Create(context.Background(), filepath.Join(seedDir, "pad"), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			wantSent, padBlocks := blocksWithData(mi.Info)
			if padBlocks == 0 {
				t.Fatal("the torrent has no block of padding alone: the test proves nothing")
			}
			seeder := newTestSession(t, Settings{})
			st, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: seedDir, PieceLayers: mi.PieceLayers})
			if err != nil {
				t.Fatal(err)
			}
			leecher := newTestSession(t, Settings{})
			lt, err := leecher.AddTorrent(mi.Info, TorrentOptions{DataDir: leechDir, PieceLayers: mi.PieceLayers, Peers: []string{seeder.Addr().String()}})
			if err != nil {
				t.Fatal(err)
			}
			waitComplete(t, lt, 30*time.Second)
			sameTree(t, filepath.Join(seedDir, "pad"), filepath.Join(leechDir, "pad"))
			ls := lt.Stats()
			if ls.PiecesDone != ls.Pieces || ls.HashFailures != 0 {
				t.Errorf("leecher verified %d of %d pieces, %d hash failures", ls.PiecesDone, ls.Pieces, ls.HashFailures)
			}
			if ls.PadBlocks != padBlocks {
				t.Errorf("leecher filled %d pad blocks, the torrent has %d", ls.PadBlocks, padBlocks)
			}
			// Every request the seeder answered is counted in Uploaded: exactly the blocks
			// with file bytes means no request for padding alone (a single seeder has no
			// endgame duplicates).
			if got := st.Stats().Uploaded; got != wantSent {
				t.Errorf("seeder sent %d bytes; the blocks holding file bytes are %d (padding alone: %d blocks)", got, wantSent, padBlocks)
			}
		})
	}
}

// blocksWithData returns the bytes of the blocks that hold any byte of a file, and the
// number of blocks that hold none, from the info dictionary's file offsets alone.
func blocksWithData(info *metainfo.Info) (bytes int64, pad int) {
	total := info.TotalLength
	if info.MetaVersion == 2 && !info.HasV1() {
		total = int64(info.NumPieces()) * info.PieceLength // a v2 piece is whole, padding and all
	}
	for off := int64(0); off < total; off += piece.BlockSize {
		n := min(piece.BlockSize, total-off)
		data := false
		for _, f := range info.Files {
			if !f.Pad && f.Length > 0 && f.Offset < off+n && off < f.Offset+f.Length {
				data = true
			}
		}
		if data {
			bytes += n
		} else {
			pad++
		}
	}
	return bytes, pad
}
