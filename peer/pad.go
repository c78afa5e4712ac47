package peer

import (
	"sort"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/storage"
)

// Blocks that lie wholly in padding (BEP 47 pad files of a hybrid torrent, the gaps that
// align a v2 torrent's files to pieces) are zeros by definition: they are never asked of a
// peer. The picker hands them out like any block; the loop takes them as received at once
// and stores zeros, which storage skips writing but hashes (SHA-1 and v2 leaves alike).

// padMap finds blocks with no byte of any stored file. Nil (no padding) finds none.
type padMap struct {
	pl   int64
	data [][2]int64 // [start, end) of each non-pad file with data, in stream order
}

func newPadMap(pl int64, files []storage.File) *padMap {
	m := &padMap{pl: pl}
	var off int64
	pad := false
	for _, f := range files {
		if f.Pad {
			pad = true
		} else if f.Length > 0 {
			m.data = append(m.data, [2]int64{off, off + f.Length})
		}
		off += f.Length
	}
	if !pad {
		return nil
	}
	return m
}

// only reports whether block b holds padding alone.
func (m *padMap) only(b piece.Block) bool {
	if m == nil {
		return false
	}
	start := int64(b.Piece)*m.pl + int64(b.Begin)
	end := start + int64(b.Length)
	// The first file that ends after start; the block is padding unless it begins before end.
	i := sort.Search(len(m.data), func(i int) bool { return m.data[i][1] > start })
	return i == len(m.data) || m.data[i][0] >= end
}

// fillPad takes a pad block the picker gave to c as received from nobody on the wire and
// queues its zeros for the disk workers, so that its piece completes and is hashed as usual.
func (t *torrent) fillPad(c *conn, b piece.Block) {
	cancels, _, err := t.picker.Received(c.key, b)
	if err != nil {
		return // not wanted after all
	}
	for _, k := range cancels {
		if o := t.conns[k]; o != nil {
			t.cancelAt(o, b)
		}
	}
	t.stats.padBlocks.Add(1)
	buf := t.s.blocks.Get()[:b.Length]
	clear(buf)
	t.diskQ = append(t.diskQ, diskJob{c: c, b: b, buf: buf})
}
