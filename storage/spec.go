package storage

import (
	"errors"
	"fmt"
	"strings"
)

// File is one file of a torrent, in torrent order.
type File struct {
	// Path is relative to the data directory, one element per directory level, already
	// including the torrent's own directory name for multi-file torrents.
	Path []string
	// Length in bytes.
	Length int64
	// Pad marks a BEP 47 pad file: never created on disk, reads as zeros.
	Pad bool
}

// Spec is what storage needs to know of a torrent.
type Spec struct {
	PieceLength int64
	Files       []File
	// Hashes holds the SHA-1 of every piece, in order (the metainfo's "pieces"); nil for
	// a v2-only torrent.
	Hashes [][20]byte
	// V2 holds every piece's BEP 52 merkle check, in order, for a v2-only or hybrid
	// torrent; nil for v1. A hybrid torrent's pieces must pass both checks.
	V2 []V2Piece
}

// NumPieces is the number of pieces the spec's hashes describe.
func (s *Spec) NumPieces() int { return max(len(s.Hashes), len(s.V2)) }

// ErrBadSpec is wrapped by every error Open returns for an invalid Spec, including file
// paths that could escape the data directory.
var ErrBadSpec = errors.New("storage: invalid torrent spec")

// maxPieceLength bounds piece buffers (recheck reads a piece in blocks, but callers size
// their own buffers from it). The largest v1 torrents in the wild use 64 MiB pieces.
const maxPieceLength = 1 << 28

// total validates the spec and returns its total length.
func (s *Spec) total() (int64, error) {
	if s.PieceLength <= 0 || s.PieceLength > maxPieceLength {
		return 0, fmt.Errorf("%w: piece length %d", ErrBadSpec, s.PieceLength)
	}
	if len(s.Files) == 0 {
		return 0, fmt.Errorf("%w: no files", ErrBadSpec)
	}
	var total int64
	seen := make(map[string]bool, len(s.Files))
	for i, f := range s.Files {
		if f.Length < 0 || f.Length > 1<<62-total {
			return 0, fmt.Errorf("%w: file %d length %d", ErrBadSpec, i, f.Length)
		}
		total += f.Length
		if f.Pad {
			continue
		}
		if err := checkPath(f.Path); err != nil {
			return 0, fmt.Errorf("%w: file %d: %w", ErrBadSpec, i, err)
		}
		key := strings.Join(f.Path, "/")
		if seen[key] {
			return 0, fmt.Errorf("%w: file %d: duplicate path %q", ErrBadSpec, i, key)
		}
		seen[key] = true
	}
	want := (total + s.PieceLength - 1) / s.PieceLength
	if s.Hashes == nil && s.V2 == nil || s.Hashes != nil && int64(len(s.Hashes)) != want {
		return 0, fmt.Errorf("%w: %d piece hashes for %d bytes of piece length %d (want %d)",
			ErrBadSpec, len(s.Hashes), total, s.PieceLength, want)
	}
	if s.V2 != nil {
		if int64(len(s.V2)) != want {
			return 0, fmt.Errorf("%w: %d v2 pieces for %d bytes of piece length %d (want %d)",
				ErrBadSpec, len(s.V2), total, s.PieceLength, want)
		}
		if s.PieceLength < BlockSize || s.PieceLength&(s.PieceLength-1) != 0 {
			return 0, fmt.Errorf("%w: v2 piece length %d is not a power of two >= 16 KiB", ErrBadSpec, s.PieceLength)
		}
		for i, p := range s.V2 {
			size := min(s.PieceLength, total-int64(i)*s.PieceLength)
			if p.Data < 0 || p.Data > size || p.Width < 1 || p.Width&(p.Width-1) != 0 ||
				int64(p.Width)*BlockSize > s.PieceLength || v2Leaves(p) > p.Width {
				return 0, fmt.Errorf("%w: v2 piece %d: %d data bytes, width %d", ErrBadSpec, i, p.Data, p.Width)
			}
		}
	}
	return total, nil
}

// checkPath rejects anything that is not a plain relative path below the data
// directory: empty paths or components, ".", "..", separators or NUL inside a component.
// Backslashes are rejected too: on Windows they are separators, and a torrent made there
// with one in a name is far rarer than an attack using one.
func checkPath(p []string) error {
	if len(p) == 0 {
		return errors.New("empty path")
	}
	for _, c := range p {
		switch {
		case c == "" || c == "." || c == "..":
			return fmt.Errorf("path component %q not allowed", c)
		case strings.ContainsAny(c, "/\\\x00"):
			return fmt.Errorf("path component %q contains a separator or NUL", c)
		}
	}
	return nil
}
