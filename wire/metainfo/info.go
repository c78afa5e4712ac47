package metainfo

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/speedbt/btt/wire/bencode"
)

// MaxPieceLength is the largest piece length accepted. libtorrent refuses more than 128 MiB
// for new torrents; 256 MiB leaves room for odd old ones while bounding a piece buffer.
const MaxPieceLength = 256 << 20

// MinPieceLengthV2 is BEP 52's smallest piece length, also the floor Create uses.
const MinPieceLengthV2 = 16 << 10

// Info is a parsed info dictionary: what the swarm agrees on and storage lays out.
type Info struct {
	Name        string
	PieceLength int64
	// Pieces holds the SHA-1 hash of each piece (v1 and hybrid torrents); nil for v2-only
	// torrents, whose piece hashes live in the piece layers outside the info dictionary.
	Pieces  [][20]byte
	Private bool   // BEP 27: use only the torrent's trackers, no DHT or PEX
	Source  string // "source": a tag some trackers put in to make the hash unique
	// MetaVersion is 1 for v1 torrents and 2 for v2 and hybrid ones (BEP 52).
	MetaVersion int

	// Files is the flat file list in storage order. For a multi-file torrent each Path begins
	// with the torrent's name (the directory); a single-file torrent has one file whose Path is
	// [Name]. Pad files (BEP 47) are included, marked Pad, since they occupy piece space.
	Files []File
	// TotalLength is the sum of all file lengths, pad files included.
	TotalLength int64

	multiFile bool
	raw       []byte
	hash      [20]byte
	hashV2    [32]byte
}

// File is one entry of the flat file list.
type File struct {
	Path   []string
	Length int64
	Offset int64 // where the file starts in the torrent's byte stream

	Pad         bool     // BEP 47 attr "p" (or a legacy "_____padding_file_" name): zeros, not stored
	Executable  bool     // attr "x"
	Hidden      bool     // attr "h"
	Symlink     bool     // attr "l": a link to SymlinkPath, with no data
	SymlinkPath []string // target, relative to the torrent's root

	PiecesRoot [32]byte // v2: root of the file's SHA-256 merkle tree (zero for empty files)
}

// Hash returns the 20-byte info-hash used on the wire, by trackers and the DHT: SHA-1 of the
// info dictionary, or for a v2-only torrent the SHA-256 hash truncated to 20 bytes (BEP 52).
func (i *Info) Hash() [20]byte { return i.hash }

// HashV2 returns the SHA-256 info-hash and true for v2 and hybrid torrents.
func (i *Info) HashV2() ([32]byte, bool) { return i.hashV2, i.MetaVersion == 2 }

// HasV1 reports whether the torrent carries v1 piece hashes (v1 or hybrid).
func (i *Info) HasV1() bool { return i.Pieces != nil }

// Bytes returns the exact bytes of the info dictionary. The caller must not modify them.
func (i *Info) Bytes() []byte { return i.raw }

// IsMultiFile reports whether the torrent is a directory of files ("files" or a v2 tree with
// more than the single named file) rather than a single file.
func (i *Info) IsMultiFile() bool { return i.multiFile }

// NumPieces returns the number of pieces.
func (i *Info) NumPieces() int {
	if i.Pieces != nil {
		return len(i.Pieces)
	}
	return int(ceilDiv(i.TotalLength, i.PieceLength))
}

// PieceSize returns the length of piece index. In v1 and hybrid torrents only the last piece
// may be shorter; in a v2-only torrent each file's last piece may be, since pieces never
// span files there.
func (i *Info) PieceSize(index int) int64 {
	start := int64(index) * i.PieceLength
	end := i.TotalLength
	if !i.HasV1() {
		// The file holding start: the last one beginning at or before it.
		j, _ := slices.BinarySearchFunc(i.Files, start+1, func(f File, off int64) int { return cmp.Compare(f.Offset, off) })
		if j > 0 {
			f := i.Files[j-1]
			end = f.Offset + f.Length
		}
	}
	return max(0, min(i.PieceLength, end-start))
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

type rawInfo struct {
	Name        string             `bencode:"name"`
	NameUTF8    any                `bencode:"name.utf-8"`
	PieceLength int64              `bencode:"piece length"`
	Pieces      []byte             `bencode:"pieces"`
	Private     any                `bencode:"private"`
	Source      any                `bencode:"source"`
	MetaVersion int64              `bencode:"meta version"`
	Length      *int64             `bencode:"length"`
	Attr        string             `bencode:"attr"`
	SymlinkPath bencode.RawMessage `bencode:"symlink path"`
	Files       bencode.RawMessage `bencode:"files"`
	FileTree    bencode.RawMessage `bencode:"file tree"`
}

// rawFile is one entry of "files". It is decoded by hand rather than by reflection: a
// torrent can list a million files, and the raw path lists are sliced, not copied.
type rawFile struct {
	Length      int64
	Path        []byte
	PathUTF8    []byte // "path.utf-8", preferred when usable
	Attr        string
	SymlinkPath []byte
}

func (rf *rawFile) decode(b []byte) error {
	return eachDictEntry(b, "file", func(key, val []byte) error {
		switch string(key) {
		case "length":
			return bencode.Unmarshal(val, &rf.Length)
		case "path":
			rf.Path = val
		case "path.utf-8":
			rf.PathUTF8 = val
		case "attr":
			var err error
			rf.Attr, err = bstring(val)
			return err
		case "symlink path":
			rf.SymlinkPath = val
		}
		return nil
	})
}

// ParseInfo parses an info dictionary on its own, as fetched from peers with BEP 9. It keeps
// a copy of b, so the caller may reuse its buffer.
func (l Limits) ParseInfo(b []byte) (*Info, error) {
	return l.parseInfo(bytes.Clone(b))
}

// parseInfo parses b and keeps it as the info's bytes.
func (l Limits) parseInfo(b []byte) (*Info, error) {
	l = l.withDefaults()
	if int64(len(b)) > l.MaxSize {
		return nil, fmt.Errorf("%w: info dictionary is larger than %d bytes", ErrTooLarge, l.MaxSize)
	}
	// The big lists (files, file tree) are kept raw here and walked with counts checked
	// before anything is allocated per entry.
	var ri rawInfo
	if err := l.decoder().Unmarshal(b, &ri); err != nil {
		return nil, fmt.Errorf("%w: info: %w", ErrInvalid, err)
	}
	if len(b) == 0 || b[0] != 'd' {
		return nil, fmt.Errorf("%w: info is not a dictionary", ErrInvalid)
	}
	// Old clients wrote names in a local code page and the UTF-8 form beside them;
	// libtorrent and Transmission show the UTF-8 one when it is there, and so do we (the
	// info-hash is over the bytes either way). v2 names must match the file tree's keys, so
	// the variants are used for v1 torrents only.
	if u, ok := ri.NameUTF8.(string); ok && ri.FileTree == nil && utf8.ValidString(u) && checkComponent(u) == nil {
		ri.Name = u
	}
	info := &Info{
		Name:        ri.Name,
		PieceLength: ri.PieceLength,
		Source:      asString(ri.Source),
		MetaVersion: 1,
		raw:         b,
	}
	if p, ok := ri.Private.(int64); ok && p == 1 {
		info.Private = true
	}
	if err := checkComponent(ri.Name); err != nil {
		return nil, fmt.Errorf("%w: name: %w", ErrUnsafePath, err)
	}
	switch ri.MetaVersion {
	case 0, 1:
	case 2:
		info.MetaVersion = 2
	default:
		return nil, fmt.Errorf("%w: unknown meta version %d", ErrInvalid, ri.MetaVersion)
	}
	if ri.PieceLength <= 0 || ri.PieceLength > MaxPieceLength {
		return nil, fmt.Errorf("%w: %d (want 1..%d)", ErrPieceLength, ri.PieceLength, MaxPieceLength)
	}
	if info.MetaVersion == 2 && (ri.PieceLength < MinPieceLengthV2 || ri.PieceLength&(ri.PieceLength-1) != 0) {
		return nil, fmt.Errorf("%w: v2 needs a power of two >= 16 KiB, got %d", ErrPieceLength, ri.PieceLength)
	}

	hasV1 := ri.Length != nil || ri.Files != nil
	if hasV1 {
		if err := info.v1Files(l, &ri); err != nil {
			return nil, err
		}
		if err := info.setPieces(ri.Pieces); err != nil {
			return nil, err
		}
	}
	if info.MetaVersion == 2 {
		if ri.FileTree == nil {
			return nil, fmt.Errorf("%w: meta version 2 without a file tree", ErrInvalid)
		}
		v2, multi, err := parseFileTree(l, ri.Name, ri.FileTree)
		if err != nil {
			return nil, err
		}
		if hasV1 {
			if err := mergeHybrid(info.Files, v2); err != nil {
				return nil, err
			}
		} else {
			info.multiFile = multi
			info.Files = v2
			info.layoutV2()
		}
	} else if !hasV1 {
		return nil, fmt.Errorf("%w: info has neither length nor files", ErrInvalid)
	}
	if err := checkConflicts(info.Files); err != nil {
		return nil, err
	}

	if hasV1 {
		info.hash = sha1.Sum(b)
	}
	if info.MetaVersion == 2 {
		info.hashV2 = sha256.Sum256(b)
		if !hasV1 {
			copy(info.hash[:], info.hashV2[:20])
		}
	}
	return info, nil
}

// v1Files fills Files from "length" (single file) or "files" (multi-file).
func (info *Info) v1Files(l Limits, ri *rawInfo) error {
	if ri.Length != nil && ri.Files != nil {
		return fmt.Errorf("%w: info has both length and files", ErrInvalid)
	}
	if ri.Length != nil {
		f := File{Path: []string{ri.Name}, Length: *ri.Length}
		if err := setAttr(&f, ri.Attr, ri.SymlinkPath, l); err != nil {
			return err
		}
		return info.addFiles(f)
	}
	info.multiFile = true
	n := 0
	err := eachListElem(ri.Files, "files", func(elem []byte) error {
		if n++; n > l.MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrTooLarge, l.MaxFiles)
		}
		var rf rawFile
		if err := rf.decode(elem); err != nil {
			return fmt.Errorf("%w: file %d: %w", ErrInvalid, n-1, err)
		}
		path, err := parsePath(rf.Path, l, info.Name)
		if err != nil {
			return fmt.Errorf("file %d: %w", n-1, err)
		}
		if rf.PathUTF8 != nil && ri.FileTree == nil {
			if u, err := parsePath(rf.PathUTF8, l, info.Name); err == nil && allUTF8(u) {
				path = u
			}
		}
		f := File{Path: path, Length: rf.Length}
		if err := setAttr(&f, rf.Attr, rf.SymlinkPath, l); err != nil {
			return fmt.Errorf("file %d: %w", n-1, err)
		}
		return info.addFiles(f)
	})
	if err == nil && n == 0 {
		// libtorrent refuses these too; there would be nothing to store or share.
		err = fmt.Errorf("%w: empty file list", ErrInvalid)
	}
	return err
}

// addFiles appends files at the end of the byte stream, checking lengths and their sum.
func (info *Info) addFiles(files ...File) error {
	for _, f := range files {
		if f.Length < 0 || f.Length > math.MaxInt64-info.TotalLength {
			return fmt.Errorf("%w: file %q length %d", ErrInvalid, strings.Join(f.Path, "/"), f.Length)
		}
		f.Offset = info.TotalLength
		info.TotalLength += f.Length
		info.Files = append(info.Files, f)
	}
	return nil
}

func (info *Info) setPieces(p []byte) error {
	if len(p)%20 != 0 {
		return fmt.Errorf("%w: pieces is %d bytes, not a multiple of 20", ErrBadPieces, len(p))
	}
	if want := ceilDiv(info.TotalLength, info.PieceLength); int64(len(p)/20) != want {
		return fmt.Errorf("%w: %d hashes for %d bytes in pieces of %d (want %d)",
			ErrBadPieces, len(p)/20, info.TotalLength, info.PieceLength, want)
	}
	info.Pieces = make([][20]byte, len(p)/20)
	for i := range info.Pieces {
		info.Pieces[i] = [20]byte(p[i*20:])
	}
	return nil
}

// setAttr applies a BEP 47 attribute string. Unknown attribute letters are ignored, as the
// BEP asks.
func setAttr(f *File, attr string, symlink []byte, l Limits) error {
	f.Pad = strings.Contains(attr, "p") || strings.HasPrefix(f.Path[len(f.Path)-1], "_____padding_file_")
	f.Executable = strings.Contains(attr, "x")
	f.Hidden = strings.Contains(attr, "h")
	f.Symlink = strings.Contains(attr, "l")
	if f.Symlink {
		target, err := parsePath(symlink, l)
		if err != nil {
			return fmt.Errorf("symlink path: %w", err)
		}
		f.SymlinkPath = target
	}
	return nil
}

// parsePath decodes a path list after the given prefix components, bounding its depth and
// length and rejecting components that could leave the download directory.
func parsePath(raw []byte, l Limits, prefix ...string) ([]string, error) {
	if raw == nil {
		return nil, fmt.Errorf("%w: missing path", ErrUnsafePath)
	}
	path := make([]string, len(prefix), len(prefix)+2) // most paths are short
	copy(path, prefix)
	total := 0
	err := eachListElem(raw, "path", func(elem []byte) error {
		if len(path)-len(prefix) >= l.MaxPathDepth {
			return fmt.Errorf("%w: path deeper than %d", ErrTooLarge, l.MaxPathDepth)
		}
		c, err := bstring(elem)
		if err != nil {
			return fmt.Errorf("path component: %w", err)
		}
		if total += len(c) + 1; total > l.MaxPathLength {
			return fmt.Errorf("%w: path longer than %d bytes", ErrTooLarge, l.MaxPathLength)
		}
		if err := checkComponent(c); err != nil {
			return err
		}
		path = append(path, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(path) == len(prefix) {
		return nil, fmt.Errorf("%w: empty path", ErrUnsafePath)
	}
	return path, nil
}

// checkComponent rejects a path component that is empty, "." or "..", or holds a separator
// or NUL. Backslash is refused too, since it separates paths on Windows.
func checkComponent(c string) error {
	if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\\\x00") {
		return fmt.Errorf("%w: component %q", ErrUnsafePath, c)
	}
	return nil
}

// checkConflicts rejects two files with the same path and a file that is also used as a
// directory by another: either would make two files share storage. Pad files are exempt:
// they are never stored, and libtorrent names every pad of one size the same (".pad/N").
func checkConflicts(files []File) error {
	if len(files) < 2 {
		return nil
	}
	const (
		isFile = 1
		isDir  = 2
	)
	seen := make(map[string]int, len(files))
	var buf []byte
	for _, f := range files {
		if f.Pad {
			continue
		}
		buf = buf[:0]
		for j, c := range f.Path {
			if j > 0 {
				buf = append(buf, '/')
			}
			buf = append(buf, c...)
			kind := isDir
			if j == len(f.Path)-1 {
				kind = isFile
			}
			// Lookups by string(buf) do not allocate; only new prefixes become keys.
			switch prev := seen[string(buf)]; {
			case prev == isFile || (prev == isDir && kind == isFile):
				return fmt.Errorf("%w: %q appears twice or as both file and directory", ErrUnsafePath, buf)
			case prev == 0:
				seen[string(buf)] = kind
			}
		}
	}
	return nil
}

// eachListElem calls fn with the raw bytes of each element of the bencoded list b, without
// copying or decoding them all at once.
func eachListElem(b []byte, what string, fn func(elem []byte) error) error {
	if len(b) < 2 || b[0] != 'l' {
		return fmt.Errorf("%w: %s is not a list", ErrInvalid, what)
	}
	pos := 1
	for pos < len(b) && b[pos] != 'e' {
		n, err := bencode.Next(b[pos:])
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
		}
		if err := fn(b[pos : pos+n]); err != nil {
			return err
		}
		pos += n
	}
	return nil
}

// eachDictEntry calls fn with each key and raw value of the bencoded dictionary b, in the
// order they appear, without copying either (fn must copy a key it keeps).
func eachDictEntry(b []byte, what string, fn func(key, val []byte) error) error {
	if len(b) < 2 || b[0] != 'd' {
		return fmt.Errorf("%w: %s is not a dictionary", ErrInvalid, what)
	}
	pos := 1
	for pos < len(b) && b[pos] != 'e' {
		kn, err := bencode.Next(b[pos:])
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
		}
		key, err := bstringBytes(b[pos : pos+kn])
		if err != nil {
			return fmt.Errorf("%s key: %w", what, err)
		}
		pos += kn
		vn, err := bencode.Next(b[pos:])
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
		}
		if err := fn(key, b[pos:pos+vn]); err != nil {
			return err
		}
		pos += vn
	}
	return nil
}

// bstring returns the contents of a bencoded string that bencode.Next has delimited (and so
// validated), without the reflection of a full Unmarshal.
func bstring(b []byte) (string, error) {
	s, err := bstringBytes(b)
	return string(s), err
}

// bstringBytes is bstring without the copy.
func bstringBytes(b []byte) ([]byte, error) {
	i := bytes.IndexByte(b, ':')
	if len(b) == 0 || b[0] < '0' || b[0] > '9' || i < 0 {
		return nil, fmt.Errorf("%w: expected a string", ErrInvalid)
	}
	return b[i+1:], nil
}

func allUTF8(path []string) bool {
	for _, c := range path {
		if !utf8.ValidString(c) {
			return false
		}
	}
	return true
}
