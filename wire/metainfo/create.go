package metainfo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/speedbt/btt/wire/bencode"
)

// ErrNoFiles is returned by Create for a directory with no regular files in it.
var ErrNoFiles = errors.New("metainfo: no files to put in the torrent")

// CreateOptions configures Create. The zero value makes a public v1 torrent with an
// automatic piece length, no trackers and no creation date.
type CreateOptions struct {
	// PieceLength must be a power of two of at least 16 KiB; 0 picks AutoPieceLength.
	PieceLength int64
	// Name overrides the torrent's name, by default the base name of the path.
	Name string
	// Trackers are the tracker tiers (BEP 12). The first tracker is also written as
	// "announce"; "announce-list" is written when there is more than one tracker, as
	// mktorrent does.
	Trackers [][]string
	// WebSeeds are BEP 19 web seed URLs.
	WebSeeds []string
	// Private sets BEP 27's private flag.
	Private bool
	// Source is written in the info dictionary, changing the info-hash (a tracker's tag).
	Source       string
	Comment      string
	CreatedBy    string
	CreationDate time.Time // written when not zero
	// PadFiles inserts BEP 47 pad files so every file after the first starts on a piece
	// boundary, letting peers fetch single files without their neighbours.
	PadFiles bool
	// Hybrid also writes BEP 52 v2 metadata (file tree, meta version 2, piece layers), making
	// a v1+v2 hybrid torrent as libtorrent 2.0 does by default. Files are then in v2 tree
	// order (sorted per path component) and padded to piece boundaries, the last one too, so
	// PadFiles is implied.
	Hybrid bool
	// V2Only writes only BEP 52 metadata (file tree, meta version 2, piece layers): a
	// v2-only torrent, as libtorrent 2.0 makes with its v2_only flag. v1-only peers cannot
	// join it. Files are in v2 tree order and start on piece boundaries.
	V2Only bool
	// Workers is the number of hashing goroutines; 0 means GOMAXPROCS.
	Workers int
	// Progress, when set, is called from the reading goroutine after each chunk read with
	// the bytes read so far and the total (pads included).
	Progress func(done, total int64)
}

// AutoPieceLength returns the piece length Create uses for total bytes of content: the
// smallest power of two, at least 16 KiB and at most 16 MiB, giving no more than 2048
// pieces. That keeps the .torrent small (40 KiB of hashes) while pieces stay short enough
// to spread across peers.
func AutoPieceLength(total int64) int64 {
	const maxPieces = 2048
	pl := int64(MinPieceLengthV2)
	for pl < 16<<20 && ceilDiv(total, pl) > maxPieces {
		pl <<= 1
	}
	return pl
}

// source is one stretch of the torrent's byte stream: a file on disk, or zeros for a pad.
type source struct {
	path   string // empty for a pad file
	length int64
}

// Create makes a torrent of the file or directory at path. A directory's regular files are
// taken recursively, sorted bytewise by their slash-joined relative path (mktorrent's
// order), hidden and empty files included; symbolic links to files are followed, links to
// directories are skipped so a loop cannot make the walk endless. Pieces are hashed in
// parallel; ctx cancels the hashing.
func Create(ctx context.Context, path string, opts CreateOptions) (*MetaInfo, error) {
	path = filepath.Clean(path)
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	v2 := opts.Hybrid || opts.V2Only // a v2 file tree is written
	name := opts.Name
	if name == "" {
		name = filepath.Base(path)
	}
	if err := checkComponent(name); err != nil {
		return nil, fmt.Errorf("torrent name: %w", err)
	}

	// found is nil for a single file, else the directory's files, without pads.
	var found []outFile
	var content int64
	switch {
	case st.Mode().IsRegular():
		content = st.Size()
	case st.IsDir():
		if found, err = listFiles(path, v2); err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%w: %s", ErrNoFiles, path)
		}
		for _, f := range found {
			content += f.Length
		}
	default:
		return nil, fmt.Errorf("metainfo: %s is neither a regular file nor a directory", path)
	}

	pl := opts.PieceLength
	if pl == 0 {
		pl = AutoPieceLength(content)
	}
	if pl < MinPieceLengthV2 || pl > MaxPieceLength || pl&(pl-1) != 0 {
		return nil, fmt.Errorf("%w: %d (want a power of two from 16 KiB to %d MiB)", ErrPieceLength, pl, MaxPieceLength>>20)
	}
	files, srcs, total := []outFile(nil), []source{{path, content}}, content
	if found != nil {
		files, srcs, total = layoutFiles(found, path, pl, opts.PadFiles || v2, v2)
	}
	// entries is the stream's layout for v2: the file list, or the single file.
	entries := files
	if found == nil {
		entries = []outFile{{Length: content, Path: []string{name}}}
	}
	var v2p []v2Piece
	if v2 {
		v2p = v2Pieces(entries, pl, ceilDiv(total, pl))
	}

	pieces, nodes, err := hashPieces(ctx, srcs, total, pl, hashOptions{workers: opts.Workers, v2: v2p, progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	oi := outInfo{Name: name, PieceLength: pl, Pieces: &pieces, Source: opts.Source}
	var layers map[[32]byte][]byte
	if v2 {
		oi.MetaVersion = 2
		oi.FileTree, layers = fileTree(entries, nodes, pl)
	}
	if opts.Private {
		oi.Private = 1
	}
	switch {
	case opts.V2Only:
		oi.Pieces = nil // the v1 keys go; the SHA-1s computed alongside are dropped
	case files == nil:
		oi.Length = &total
	default:
		oi.Files = files
	}
	raw, err := bencode.Marshal(oi)
	if err != nil {
		return nil, err
	}
	// Parse what was written, so a created torrent passes exactly the checks a received one does.
	info, err := ParseInfo(raw)
	if err != nil {
		return nil, fmt.Errorf("metainfo: created info does not parse: %w", err)
	}
	m := &MetaInfo{
		Info:         info,
		Comment:      opts.Comment,
		CreatedBy:    opts.CreatedBy,
		CreationDate: opts.CreationDate,
		URLList:      opts.WebSeeds,
		PieceLayers:  layers,
	}
	var ntrackers int
	for _, tier := range opts.Trackers {
		if len(tier) == 0 {
			continue
		}
		if m.Announce == "" {
			m.Announce = tier[0]
		}
		ntrackers += len(tier)
		m.AnnounceList = append(m.AnnounceList, tier)
	}
	if ntrackers < 2 {
		m.AnnounceList = nil
	}
	if !opts.CreationDate.IsZero() {
		m.CreationDate = opts.CreationDate.UTC().Truncate(time.Second)
	}
	return m, nil
}

// outInfo and outFile are the info dictionary as written; bencode sorts the keys.
type outInfo struct {
	FileTree    map[string]any `bencode:"file tree,omitempty"`
	Files       []outFile      `bencode:"files,omitempty"`
	Length      *int64         `bencode:"length,omitempty"`
	MetaVersion int64          `bencode:"meta version,omitempty"`
	Name        string         `bencode:"name"`
	PieceLength int64          `bencode:"piece length"`
	Pieces      *[]byte        `bencode:"pieces,omitempty"`
	Private     int64          `bencode:"private,omitempty"`
	Source      string         `bencode:"source,omitempty"`
}

type outFile struct {
	Attr   string   `bencode:"attr,omitempty"`
	Length int64    `bencode:"length"`
	Path   []string `bencode:"path"`
}

// listFiles returns the regular files below root with their paths relative to it, in
// mktorrent's order (bytewise by joined path), or for v2 in file tree order (per component).
func listFiles(root string, treeOrder bool) ([]outFile, error) {
	var out []outFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := os.Stat(p) // follows links to files; a link to a directory is not walked
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, outFile{Length: fi.Size(), Path: strings.Split(filepath.ToSlash(rel), "/")})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b outFile) int {
		if treeOrder {
			return slices.Compare(a.Path, b.Path)
		}
		return strings.Compare(strings.Join(a.Path, "/"), strings.Join(b.Path, "/"))
	})
	return out, nil
}

// layoutFiles returns the file list as written (with BEP 47 pad files after every file that
// ends off a piece boundary, when pad is set, except the last unless tailPad), the
// byte-stream sources for hashing, and the total length. Pads are named ".pad/SIZE", as
// libtorrent names them.
func layoutFiles(found []outFile, root string, pl int64, pad, tailPad bool) ([]outFile, []source, int64) {
	var files []outFile
	var srcs []source
	var total int64
	for i, f := range found {
		files = append(files, f)
		srcs = append(srcs, source{filepath.Join(append([]string{root}, f.Path...)...), f.Length})
		total += f.Length
		if !pad || (i == len(found)-1 && !tailPad) {
			continue
		}
		if r := total % pl; r != 0 {
			pad := pl - r
			files = append(files, outFile{Attr: "p", Length: pad, Path: []string{".pad", strconv.FormatInt(pad, 10)}})
			srcs = append(srcs, source{"", pad})
			total += pad
		}
	}
	return files, srcs, total
}

func workers(n int) int {
	if n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// v2Pieces maps each piece of a piece-aligned layout onto its file's data.
func v2Pieces(entries []outFile, pl, npieces int64) []v2Piece {
	v2 := make([]v2Piece, npieces)
	var off int64
	for _, f := range entries {
		if f.Attr != "p" {
			for k := int64(0); k*pl < f.Length; k++ {
				v2[off/pl+k] = v2Piece{data: min(pl, f.Length-k*pl), small: f.Length <= pl}
			}
		}
		off += f.Length
	}
	return v2
}

// fileTree builds the BEP 52 file tree of a piece-aligned layout from the pieces' v2 nodes,
// and the piece layers of the files longer than a piece.
func fileTree(entries []outFile, nodes [][32]byte, pl int64) (map[string]any, map[[32]byte][]byte) {
	tree := map[string]any{}
	var layers map[[32]byte][]byte
	var off int64
	for _, f := range entries {
		start := off
		off += f.Length
		if f.Attr == "p" {
			continue
		}
		leaf := map[string]any{"length": f.Length}
		if f.Length > 0 {
			first, count := start/pl, ceilDiv(f.Length, pl)
			root := nodes[first]
			if count > 1 {
				layer := nodes[first : first+count]
				raw := make([]byte, 0, 32*count)
				for _, n := range layer {
					raw = append(raw, n[:]...)
				}
				root = pieceLayerRoot(layer, pl)
				if layers == nil {
					layers = map[[32]byte][]byte{}
				}
				layers[root] = raw
			}
			leaf["pieces root"] = root[:]
		}
		dir := tree
		for _, c := range f.Path[:len(f.Path)-1] {
			sub, ok := dir[c].(map[string]any)
			if !ok {
				sub = map[string]any{}
				dir[c] = sub
			}
			dir = sub
		}
		dir[f.Path[len(f.Path)-1]] = map[string]any{"": leaf}
	}
	return tree, layers
}
