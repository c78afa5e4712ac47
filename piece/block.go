package piece

import "fmt"

// BlockSize is the request size every mainstream client uses and most accept at most
// (libtorrent and Transmission reject larger requests). Only the last block of a piece
// is shorter.
const BlockSize = 16 * 1024

// Block is one request: Length bytes at offset Begin of piece Piece, as in the BEP 3
// request, cancel and piece messages.
type Block struct {
	Piece, Begin, Length uint32
}

func (b Block) String() string { return fmt.Sprintf("piece %d [%d+%d]", b.Piece, b.Begin, b.Length) }

// Layout describes how a torrent's bytes split into pieces and blocks.
type Layout struct {
	NumPieces   int
	PieceLength int64
	TotalLength int64
}

// maxPieceLength bounds the piece length we accept; BEP 52 torrents stop at 16 MiB and
// the largest v1 torrents seen use 64 MiB. It keeps per-piece block arrays small.
const maxPieceLength = 1 << 28

// Check reports whether the layout is consistent: NumPieces == ceil(TotalLength/PieceLength).
func (l Layout) Check() error {
	if l.PieceLength <= 0 || l.PieceLength > maxPieceLength {
		return fmt.Errorf("piece: piece length %d out of range (1..%d)", l.PieceLength, maxPieceLength)
	}
	if l.TotalLength < 0 || l.NumPieces < 0 {
		return fmt.Errorf("piece: negative length %d or piece count %d", l.TotalLength, l.NumPieces)
	}
	if want := (l.TotalLength + l.PieceLength - 1) / l.PieceLength; int64(l.NumPieces) != want {
		return fmt.Errorf("piece: %d pieces for %d bytes of piece length %d (want %d)", l.NumPieces, l.TotalLength, l.PieceLength, want)
	}
	if l.NumPieces > 1<<31-1 {
		return fmt.Errorf("piece: too many pieces (%d)", l.NumPieces)
	}
	return nil
}

// PieceSize is the length of piece i (the last one may be shorter); 0 when out of range.
func (l Layout) PieceSize(i int) int64 {
	if i < 0 || i >= l.NumPieces {
		return 0
	}
	if i == l.NumPieces-1 {
		return l.TotalLength - int64(i)*l.PieceLength
	}
	return l.PieceLength
}

// Blocks is the number of blocks of piece i.
func (l Layout) Blocks(i int) int { return int((l.PieceSize(i) + BlockSize - 1) / BlockSize) }

// Block returns block j of piece i.
func (l Layout) Block(i, j int) Block {
	size := l.PieceSize(i)
	begin := int64(j) * BlockSize
	return Block{Piece: uint32(i), Begin: uint32(begin), Length: uint32(min(BlockSize, size-begin))}
}

// Valid reports whether b is exactly one of the layout's blocks (aligned, right length).
func (l Layout) Valid(b Block) bool {
	size := l.PieceSize(int(b.Piece))
	if int64(b.Piece) >= int64(l.NumPieces) || b.Begin%BlockSize != 0 || int64(b.Begin) >= size {
		return false
	}
	return int64(b.Length) == min(BlockSize, size-int64(b.Begin))
}
