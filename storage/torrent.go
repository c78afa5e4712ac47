package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

// Errors callers branch on. Others wrap the *os.PathError of the failing file.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("storage: torrent closed")
	// ErrRange means a piece index, offset or length outside the torrent.
	ErrRange = errors.New("storage: block out of range")
	// ErrShortFile means a file ended before the data asked for (truncated or not yet written).
	ErrShortFile = errors.New("storage: file shorter than torrent says")
	// ErrNotHave means a piece that is not verified was asked to be served.
	ErrNotHave = errors.New("storage: piece not verified")
	// ErrVerified means a write to a piece that is already verified; it is refused so a
	// late or hostile block can never corrupt data we announced.
	ErrVerified = errors.New("storage: piece already verified")
	// ErrReadOnly means a write to a torrent opened with Options.ReadOnly.
	ErrReadOnly = errors.New("storage: read-only")
)

// Options tunes Open. The zero value is the usual read-write storage.
type Options struct {
	// ReadOnly never creates or writes a file: for seeding data the user owns.
	ReadOnly bool
	// Pool supplies block buffers; share one among a client's torrents. Nil gives the
	// torrent its own.
	Pool *BufferPool
	// NoSendfile makes SendBlock always copy through a buffer. For measurements and for
	// file systems where sendfile misbehaves.
	NoSendfile bool
	// MaxOpenFiles caps the file handles the torrent keeps open; the least recently used
	// idle one is closed to open another. Zero means no cap: Go raises the descriptor
	// limit to the hard limit at start, which is ample on current Linux, but torrents of
	// tens of thousands of files on systems with a 4096 hard limit need a cap.
	MaxOpenFiles int
}

// Torrent is the on-disk data of one torrent.
type Torrent struct {
	spec      Spec
	total     int64
	numPieces int
	files     []*file
	data      []*file // files with Length > 0, by start, for offset lookups
	opts      Options
	pool      *BufferPool

	have   []atomic.Uint64 // verified pieces
	closed atomic.Bool
	stats  counters

	dir    string
	rootMu sync.Mutex // guards root
	root   *os.Root   // dir, opened on first use: every file is opened through it

	fmu      sync.Mutex // guards every file's handle fields and the LRU list
	open     int        // handles open
	lru      *file      // most recently used open file; lru.prev is the least
	sendPool sync.Pool  // *sendBuf for SendBlock's copy path
	senders  sync.Pool  // *sender for SendBlock's sendfile path

	mu       sync.Mutex // guards hashing, spare and failures
	hashing  map[int]*hasher
	spare    []*hasher
	failures map[int][][][20]byte // per piece, per failed attempt, per block SHA-1
	// failedLeaves holds, per v2 piece not yet verified, the leaf hashes of its latest
	// failed attempt (FailedLeaves): at most one piece's leaves per piece.
	failedLeaves map[int][][32]byte
}

// Open prepares a torrent's storage in dir. It validates the spec (paths that could
// leave dir are rejected with ErrBadSpec) and creates the zero-length files, which no
// piece write would create. Other files are created, sparse, on their first write.
// Open reads nothing: call Resume (or LoadResume, Recheck) to learn which pieces are on
// disk. The torrent keeps spec's slices: the caller must not modify them afterwards.
func Open(dir string, spec Spec, opts Options) (*Torrent, error) {
	total, err := spec.total()
	if err != nil {
		return nil, err
	}
	t := &Torrent{
		spec:      spec,
		total:     total,
		numPieces: spec.NumPieces(),
		opts:      opts,
		dir:       dir,
		pool:      opts.Pool,
		hashing:   make(map[int]*hasher),
	}
	if t.pool == nil {
		t.pool = new(BufferPool)
	}
	t.have = make([]atomic.Uint64, (t.numPieces+63)/64)
	var off int64
	for _, f := range spec.Files {
		tf := &file{File: f, start: off}
		if !f.Pad {
			tf.rel = filepath.Join(f.Path...)
			tf.path = filepath.Join(dir, tf.rel)
		}
		off += f.Length
		t.files = append(t.files, tf)
		if f.Length > 0 {
			t.data = append(t.data, tf)
		}
		if f.Length == 0 && !f.Pad && !opts.ReadOnly {
			if err := t.createEmpty(tf.rel); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

func (t *Torrent) createEmpty(rel string) error {
	root, err := t.dirRoot(true)
	if err != nil {
		return err
	}
	if err := root.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	f, err := root.OpenFile(rel, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return f.Close()
}

// dirRoot returns the download folder as an os.Root, opening it (and with create,
// making it) on first use. Every file is opened through it, so no path, symlink or ".."
// already on disk can lead a read or a write out of the folder: a symlink inside it
// is followed only while it stays inside.
func (t *Torrent) dirRoot(create bool) (*os.Root, error) {
	t.rootMu.Lock()
	defer t.rootMu.Unlock()
	if t.root != nil {
		return t.root, nil
	}
	if create {
		if err := os.MkdirAll(t.dir, 0o755); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	r, err := os.OpenRoot(t.dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	t.root = r
	return r, nil
}

// Stats are the torrent's storage counters since Open.
type Stats struct {
	PiecesVerified  int64 // by WriteBlockHashed
	PiecesFailed    int64 // hash mismatches in WriteBlockHashed
	BlocksDuplicate int64 // blocks WriteBlockHashed did not write
	BytesWritten    int64 // payload written by WriteBlock and WriteBlockHashed
	BytesSendfile   int64 // sent by SendBlock without a user-space copy (headers included)
	BytesCopied     int64 // sent by SendBlock through a buffer (headers included)
}

type counters struct {
	piecesVerified, piecesFailed, blocksDuplicate, bytesWritten, bytesSendfile, bytesCopied atomic.Int64
}

// Stats returns a snapshot of the counters.
func (t *Torrent) Stats() Stats {
	c := &t.stats
	return Stats{
		PiecesVerified:  c.piecesVerified.Load(),
		PiecesFailed:    c.piecesFailed.Load(),
		BlocksDuplicate: c.blocksDuplicate.Load(),
		BytesWritten:    c.bytesWritten.Load(),
		BytesSendfile:   c.bytesSendfile.Load(),
		BytesCopied:     c.bytesCopied.Load(),
	}
}

// NumPieces is the number of pieces.
func (t *Torrent) NumPieces() int { return t.numPieces }

// PieceSize is the length of piece i (the last may be shorter); 0 if out of range.
func (t *Torrent) PieceSize(i int) int64 {
	if i < 0 || i >= t.numPieces {
		return 0
	}
	if i == t.numPieces-1 {
		return t.total - int64(i)*t.spec.PieceLength
	}
	return t.spec.PieceLength
}

// Length is the torrent's total length.
func (t *Torrent) Length() int64 { return t.total }

// Have reports whether piece i is verified.
func (t *Torrent) Have(i int) bool {
	if i < 0 || i >= t.numPieces {
		return false
	}
	return t.have[i>>6].Load()&(1<<(i&63)) != 0
}

// Pieces returns which pieces are verified, as a fresh slice.
func (t *Torrent) Pieces() []bool {
	out := make([]bool, t.numPieces)
	for i := range out {
		out[i] = t.Have(i)
	}
	return out
}

func (t *Torrent) setHave(i int, v bool) {
	if v {
		t.have[i>>6].Or(1 << (i & 63))
	} else {
		t.have[i>>6].And(^uint64(1 << (i & 63)))
	}
}

// span checks a block request and returns its torrent offset.
func (t *Torrent) span(piece, begin, length int) (int64, error) {
	size := t.PieceSize(piece)
	if size == 0 || begin < 0 || length < 0 || int64(begin)+int64(length) > size {
		return 0, fmt.Errorf("%w: piece %d [%d+%d] of %d pieces", ErrRange, piece, begin, length, t.numPieces)
	}
	return int64(piece)*t.spec.PieceLength + int64(begin), nil
}

// segments calls fn for each file range covering [off, off+n) of the torrent, in order.
// pos is the offset into the caller's buffer.
func (t *Torrent) segments(off, n int64, fn func(f *file, foff int64, pos, length int) error) error {
	i := sort.Search(len(t.data), func(i int) bool { return t.data[i].start+t.data[i].Length > off })
	var pos int64
	for n > 0 && i < len(t.data) {
		f := t.data[i]
		foff := off - f.start
		l := min(n, f.Length-foff)
		if err := fn(f, foff, int(pos), int(l)); err != nil {
			return err
		}
		off += l
		pos += l
		n -= l
		i++
	}
	return nil
}

// ReadBlock reads len(buf) bytes at offset begin of piece. A block may span files;
// pad files read as zeros. It does not check that the piece is verified.
func (t *Torrent) ReadBlock(piece, begin int, buf []byte) error {
	off, err := t.span(piece, begin, len(buf))
	if err != nil {
		return err
	}
	return t.readAt(buf, off)
}

func (t *Torrent) readAt(buf []byte, off int64) error {
	return t.segments(off, int64(len(buf)), func(f *file, foff int64, pos, l int) error {
		dst := buf[pos : pos+l]
		if f.Pad {
			clear(dst)
			return nil
		}
		h, err := t.acquire(f, false)
		if err != nil {
			return err
		}
		n, err := h.ReadAt(dst, foff)
		t.release(f)
		if n == l {
			return nil
		}
		if err == io.EOF || err == nil {
			return fmt.Errorf("%w: %s has %d bytes at %d, want %d", ErrShortFile, f.path, n, foff, l)
		}
		return fmt.Errorf("storage: %w", err)
	})
}

// WriteBlock writes data at offset begin of piece without hashing it. Pad ranges are
// skipped. Writes to a verified piece fail with ErrVerified. Use WriteBlockHashed for
// downloaded data; WriteBlock is for callers that verify by other means (VerifyPiece).
func (t *Torrent) WriteBlock(piece, begin int, data []byte) error {
	off, err := t.span(piece, begin, len(data))
	if err != nil {
		return err
	}
	if t.Have(piece) {
		return fmt.Errorf("%w: piece %d", ErrVerified, piece)
	}
	return t.writeAt(data, off)
}

func (t *Torrent) writeAt(data []byte, off int64) error {
	return t.segments(off, int64(len(data)), func(f *file, foff int64, pos, l int) error {
		if f.Pad {
			return nil
		}
		h, err := t.acquire(f, true)
		if err != nil {
			return err
		}
		_, err = h.WriteAt(data[pos:pos+l], foff)
		t.release(f)
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		t.stats.bytesWritten.Add(int64(l))
		return nil
	})
}
