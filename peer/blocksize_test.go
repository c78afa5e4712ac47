package peer

import (
	"testing"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/storage"
	"github.com/speedbt/btt/wire"
)

// TestBlockSizesAgree: peer uses piece.BlockSize alone; the leaves keep their own copies so
// they need not import each other, and a session hands blocks between all three (wire reads
// them, the picker grids them, storage pools and hashes them). They must be one number.
func TestBlockSizesAgree(t *testing.T) {
	sizes := map[string]int{"piece": piece.BlockSize, "storage": storage.BlockSize, "wire": wire.BlockLen}
	for name, n := range sizes {
		if n != piece.BlockSize {
			t.Errorf("%s block size %d, piece's %d", name, n, piece.BlockSize)
		}
	}
}
