package peer

import (
	"fmt"

	"github.com/speedbt/btt/piece"
)

// readChunkFromStore reads one 16 KiB chunk (the last of a piece may be shorter) from
// storage into buf (capacity piece.BlockSize); torrent.chunks calls it on a miss.
func (t *torrent) readChunkFromStore(p, chunk uint32, buf []byte) ([]byte, error) {
	size := t.layout.PieceSize(int(p))
	begin := int64(chunk) * piece.BlockSize
	if begin >= size {
		return nil, fmt.Errorf("chunk %d beyond piece %d", chunk, p)
	}
	buf = buf[:min(piece.BlockSize, size-begin)]
	return buf, t.store.ReadBlock(int(p), int(begin), buf)
}
