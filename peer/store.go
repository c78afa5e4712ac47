package peer

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/storage"
)

// openStorage opens the torrent's files under the data directory.
func (t *torrent) openStorage() error {
	spec := storage.Spec{PieceLength: t.info.PieceLength, Hashes: t.info.Pieces, Files: storageFiles(t.info)}
	t.pad = newPadMap(spec.PieceLength, spec.Files)
	v2, err := v2Pieces(t.info, t.opts.PieceLayers)
	if err != nil {
		return err
	}
	spec.V2, t.v2 = v2, v2
	st, err := storage.Open(t.opts.DataDir, spec, storage.Options{Pool: t.s.pool})
	if err != nil {
		return fmt.Errorf("peer: opening storage: %w", err)
	}
	t.store = st
	return nil
}

// loadHave learns which pieces are already verified on disk: from the resume file when it
// still matches the files, else by hashing them all (in parallel).
func (t *torrent) loadHave() (piece.Bitfield, error) {
	have := piece.New(t.layout.NumPieces)
	ok := false
	if t.opts.ResumeFile != "" {
		loaded, err := t.store.LoadResume(t.opts.ResumeFile)
		if err != nil {
			t.s.log.Info("resume file not used; rechecking", "err", err)
		}
		ok = loaded
	}
	if !ok {
		if _, err := t.store.Recheck(context.Background(), t.s.settings.RecheckWorkers); err != nil {
			return have, fmt.Errorf("peer: recheck: %w", err)
		}
	}
	for i := range t.layout.NumPieces {
		if t.store.Have(i) {
			have.Set(i)
		}
	}
	return have, nil
}

// storeBlock writes a received block to disk and hashes it; it runs on one of the torrent's
// disk workers (disk.go), after the loop's picker accepted the block, never on the loop.
func (t *torrent) storeBlock(b piece.Block, data []byte) (blockResult, error) {
	res, err := t.store.WriteBlockHashed(int(b.Piece), int(b.Begin), data)
	if err != nil {
		return blockResult{}, err
	}
	switch res {
	case storage.PieceVerified:
		return blockResult{pieceDone: true, pieceOK: true}, nil
	case storage.PieceFailed:
		return blockResult{pieceDone: true}, nil
	}
	return blockResult{}, nil
}

// sendBlock writes a piece message (header, then block); it runs on the connection's writer
// (conn.uploadBlock). On TCP the buffered messages ahead of it are flushed and storage sends
// the block from the page cache (sendfile on Linux, the header riding in the same segment);
// on other transports the block is copied through the buffer, which batches it with the
// messages around it.
func (t *torrent) sendBlock(bw *bufio.Writer, nc net.Conn, header []byte, b piece.Block) error {
	if _, isTCP := nc.(*net.TCPConn); isTCP {
		if err := bw.Flush(); err != nil {
			return err
		}
		_, err := t.store.SendBlock(nc, header, int(b.Piece), int(b.Begin), int(b.Length))
		return err
	}
	_, err := t.store.SendBlock(bw, header, int(b.Piece), int(b.Begin), int(b.Length))
	return err
}

func (t *torrent) saveResume() {
	if t.opts.ResumeFile == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(t.opts.ResumeFile), 0o755); err != nil {
		t.s.log.Warn("saving resume file", "err", err)
		return
	}
	if err := t.store.SaveResume(t.opts.ResumeFile); err != nil {
		t.s.log.Warn("saving resume file", "err", err)
	}
}

func (t *torrent) closeStorage() error {
	t.saveResume()
	return t.store.Close()
}
