package metainfo

import (
	"fmt"
	"slices"
	"strings"

	"github.com/speedbt/btt/wire/bencode"
)

// v2Leaf is the dictionary under the empty key that marks a file in a BEP 52 file tree.
type v2Leaf struct {
	Length     int64  `bencode:"length"`
	PiecesRoot []byte `bencode:"pieces root"`
	Attr       string `bencode:"attr"`
}

// parseFileTree flattens a BEP 52 file tree into files in tree order (keys sorted bytewise,
// which is the order v2 lays files out in). Paths are prefixed with name for a multi-file
// torrent; a tree holding exactly one file called name is a single-file torrent.
func parseFileTree(l Limits, name string, tree []byte) ([]File, bool, error) {
	var files []File
	var walk func(node []byte, path []string, pathLen int) error
	walk = func(node []byte, path []string, pathLen int) error {
		type entry struct {
			key string
			val []byte
		}
		var entries []entry
		err := eachDictEntry(node, "file tree", func(k, v []byte) error {
			if len(entries)+len(files) >= l.MaxFiles {
				return fmt.Errorf("%w: more than %d files", ErrTooLarge, l.MaxFiles)
			}
			entries = append(entries, entry{string(k), v})
			return nil
		})
		if err != nil {
			return err
		}
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
		for i, e := range entries {
			if i > 0 && entries[i-1].key == e.key {
				return fmt.Errorf("%w: duplicate key %q in file tree", ErrInvalid, e.key)
			}
			if e.key == "" {
				if len(entries) != 1 || len(path) == 0 {
					return fmt.Errorf("%w: file tree node is both file and directory", ErrInvalid)
				}
				var leaf v2Leaf
				if err := bencode.Unmarshal(e.val, &leaf); err != nil {
					return fmt.Errorf("%w: file tree leaf %q: %w", ErrInvalid, strings.Join(path, "/"), err)
				}
				f := File{Path: slices.Clone(path), Length: leaf.Length}
				switch {
				case leaf.Length < 0:
					return fmt.Errorf("%w: file %q length %d", ErrInvalid, strings.Join(path, "/"), leaf.Length)
				case leaf.Length > 0 && len(leaf.PiecesRoot) != 32:
					return fmt.Errorf("%w: file %q has a %d-byte pieces root", ErrInvalid, strings.Join(path, "/"), len(leaf.PiecesRoot))
				case leaf.Length > 0:
					f.PiecesRoot = [32]byte(leaf.PiecesRoot)
				}
				f.Executable = strings.Contains(leaf.Attr, "x")
				f.Hidden = strings.Contains(leaf.Attr, "h")
				files = append(files, f)
				continue
			}
			if err := checkComponent(e.key); err != nil {
				return err
			}
			if len(path) >= l.MaxPathDepth {
				return fmt.Errorf("%w: path deeper than %d", ErrTooLarge, l.MaxPathDepth)
			}
			if pathLen+len(e.key)+1 > l.MaxPathLength {
				return fmt.Errorf("%w: path longer than %d bytes", ErrTooLarge, l.MaxPathLength)
			}
			if err := walk(e.val, append(path, e.key), pathLen+len(e.key)+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(tree, nil, 0); err != nil {
		return nil, false, err
	}
	if len(files) == 0 {
		return nil, false, fmt.Errorf("%w: empty file tree", ErrInvalid)
	}
	if len(files) == 1 && len(files[0].Path) == 1 && files[0].Path[0] == name {
		return files, false, nil
	}
	for i := range files {
		files[i].Path = append([]string{name}, files[i].Path...)
	}
	return files, true, nil
}

// layoutV2 places the files of a v2-only torrent: each file starts on a piece boundary
// (BEP 52), so offsets skip to the next boundary as if pad files were there, and the
// total length counts that padding (but not after the last file).
func (info *Info) layoutV2() {
	var off int64
	for i := range info.Files {
		if r := off % info.PieceLength; r != 0 {
			off += info.PieceLength - r
		}
		info.Files[i].Offset = off
		off += info.Files[i].Length
	}
	info.TotalLength = off
}

// mergeHybrid makes sure a hybrid torrent's v1 file list (without its pad files) and its v2
// file tree describe the same files in the same order, as BEP 52 requires (otherwise v1 and
// v2 peers would download different content under one torrent), and copies the v2 pieces
// roots into the v1 list.
func mergeHybrid(v1, v2 []File) error {
	j := 0
	for i, f := range v1 {
		if f.Pad {
			continue
		}
		if j >= len(v2) || !slices.Equal(f.Path, v2[j].Path) || f.Length != v2[j].Length {
			return fmt.Errorf("%w: hybrid torrent's v1 files and v2 file tree differ at %q", ErrInvalid, strings.Join(f.Path, "/"))
		}
		v1[i].PiecesRoot = v2[j].PiecesRoot
		j++
	}
	if j != len(v2) {
		return fmt.Errorf("%w: hybrid torrent's v2 file tree has %d files, v1 list %d", ErrInvalid, len(v2), j)
	}
	return nil
}
