package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The write-ahead log makes a batch durable with one record and one flush: with O_DSYNC,
// one write(2) of a few KiB into a segment written with zeros beforehand (spare.go),
// 0.12-0.22 ms on this machine's disk, where a bbolt commit of the same batch cost 2.3-4.5 ms
// (its page writes and two fdatasyncs). bbolt then receives the logged batches a few at a time in the background
// (checkpoint.go) and remembers the last one it holds, so a crash at any point replays
// exactly the records it lacks.
//
// The log is a directory of segments named by the sequence number (LSN) of their first
// record, in hex. Open replays it into bbolt and starts a fresh segment; segments are deleted
// once bbolt holds all their records. A record is
//
//	payload length (4) | CRC-32C of LSN and payload (4) | LSN (8) | payload (record.go)
//
// LSNs are consecutive across segments. Only the newest segment can end in a torn record
// (the write that a crash interrupted, never acknowledged): a bad record there with no good
// record after it is cut off on open. Any other bad record is corruption and refused; zeros
// after the last record are the unused rest of a segment.

const (
	recHeaderSize = 16
	// maxRecord bounds one batch's record: a batch is at most a few hundred operations
	// (MaxBatch), but a sweep can archive or expire many channels at once.
	maxRecord = 256 << 20
	// segmentSize is when the writer starts a new segment: about 1.4 s of records at 10,000
	// transfers/s. Checkpointed segments are deleted whole, so this is also about how much
	// disk a log holds beyond what bbolt lacks.
	segmentSize = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorruptLog is returned by readLog for a bad record that is not the newest segment's
// tail; it wraps ErrCorrupt.
var errCorruptLog = fmt.Errorf("%w: log", ErrCorrupt)

// wal is the log's writing end, used by one goroutine at a time: Store.Commit's caller.
type wal struct {
	dir  string
	f    *os.File // the newest segment, O_DSYNC, written at size
	size int64
	next uint64 // LSN of the next record
}

// logged is a record read back on open.
type logged struct {
	lsn     uint64
	payload []byte
}

// readLog reads the log in dir (creating the directory if need be) and returns its records
// from LSN from on (those before are in bbolt already), the LSN that follows the last record,
// and the segments it found. Only the newest segment may end in a torn record.
func readLog(dir string, from uint64) (recs []logged, next uint64, segs []uint64, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, nil, err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, 0, nil, err
	}
	if segs, err = listSegments(dir); err != nil {
		return nil, 0, nil, err
	}
	next = from
	for i, first := range segs {
		switch {
		case i == 0 && first > from:
			return nil, 0, nil, fmt.Errorf("%w: first segment starts at %d, bbolt holds up to %d", errCorruptLog, first, from-1)
		case i > 0 && first != next:
			return nil, 0, nil, fmt.Errorf("%w: segment %x follows record %d", errCorruptLog, first, next-1)
		}
		rs, good, err := readSegment(segPath(dir, first), first)
		if err != nil && !(i == len(segs)-1 && errors.Is(err, errTorn)) {
			return nil, 0, nil, err
		}
		if err != nil {
			// The newest segment's torn tail, a write that never completed: cut it off, so
			// that the segment reads cleanly once it is no longer the newest.
			if err := truncateSync(segPath(dir, first), good); err != nil {
				return nil, 0, nil, err
			}
		}
		for _, r := range rs {
			if r.lsn >= from {
				recs = append(recs, r)
			}
		}
		next = max(first+uint64(len(rs)), from)
	}
	return recs, next, segs, nil
}

// newLog starts the log's writing end with a fresh segment at LSN next (from the spare, if
// an earlier run left one). A segment already named next holds no record (readLog found
// none there): it is replaced.
func newLog(dir string, next uint64) (*wal, error) {
	if err := os.Remove(segPath(dir, next)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	w := &wal{dir: dir, next: next}
	if err := w.rotate(spareReady(dir)); err != nil {
		return nil, err
	}
	return w, nil
}

// errTorn marks a record that ends early or fails its checksum.
var errTorn = errors.New("torn record")

// readSegment reads the records of one segment, which must start at LSN first. It returns
// the good records and the offset where they end; err wraps errTorn if the segment does not
// end cleanly after them.
func readSegment(path string, first uint64) ([]logged, int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	var rs []logged
	off := 0
	for off < len(b) {
		rest := b[off:]
		if allZero(rest) {
			break // the rest of a segment made of zeros (spare.go): a clean end
		}
		want := first + uint64(len(rs))
		if !goodRecord(rest, want) {
			// A write that a crash interrupted is the last thing in the segment. If a good
			// record follows this bad one, acknowledged records were damaged instead: they
			// must not be cut off silently.
			if laterRecord(rest[1:], want+1) {
				return nil, 0, fmt.Errorf("%w: %s at %d: a bad record before record %d", errCorruptLog, path, off, want+1)
			}
			return rs, int64(off), fmt.Errorf("%w: %w: %s at %d", errCorruptLog, errTorn, path, off)
		}
		n := binary.BigEndian.Uint32(rest)
		rs = append(rs, logged{lsn: want, payload: rest[recHeaderSize : recHeaderSize+n]})
		off += recHeaderSize + int(n)
	}
	return rs, int64(off), nil
}

// goodRecord reports whether b starts with a whole record numbered lsn.
func goodRecord(b []byte, lsn uint64) bool {
	if len(b) < recHeaderSize {
		return false
	}
	n := uint64(binary.BigEndian.Uint32(b))
	return n <= maxRecord && recHeaderSize+n <= uint64(len(b)) && binary.BigEndian.Uint64(b[8:]) == lsn &&
		crc32.Checksum(b[8:recHeaderSize+n], castagnoli) == binary.BigEndian.Uint32(b[4:])
}

// laterRecord reports whether a whole record numbered lsn starts anywhere in b. Only
// offsets holding lsn where a record keeps it are checksummed, so this costs a scan.
func laterRecord(b []byte, lsn uint64) bool {
	key := binary.BigEndian.AppendUint64(nil, lsn)
	for i := 0; i+recHeaderSize <= len(b); i++ {
		j := bytes.Index(b[i+8:], key)
		if j < 0 {
			return false
		}
		i += j
		if goodRecord(b[i:], lsn) {
			return true
		}
	}
	return false
}

// append writes one record, rec = 16 bytes of room for the header followed by the payload,
// and returns its LSN once it is on disk. A failed write may leave a torn record behind; the
// caller must stop using the log (the ledger stops its writer), and the next open cuts it off.
func (w *wal) append(rec []byte) (uint64, error) {
	if len(rec)-recHeaderSize > maxRecord {
		return 0, fmt.Errorf("boltstore: log record of %d bytes", len(rec)-recHeaderSize)
	}
	lsn := w.next
	binary.BigEndian.PutUint32(rec, uint32(len(rec)-recHeaderSize))
	binary.BigEndian.PutUint64(rec[8:], lsn)
	binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(rec[8:], castagnoli))
	if _, err := w.f.WriteAt(rec, w.size); err != nil {
		return 0, fmt.Errorf("boltstore: log: %w", err)
	}
	w.size += int64(len(rec))
	w.next++
	return lsn, nil
}

// rotate starts a new segment at w.next: the spare (spare.go) renamed, when one is ready,
// else an empty file. The directory is flushed before anything is written to it, so the new
// segment's name survives a crash with its records.
func (w *wal) rotate(spare bool) error {
	path := segPath(w.dir, w.next)
	var f *os.File
	var err error
	if spare {
		if err = os.Rename(sparePath(w.dir), path); err == nil {
			f, err = os.OpenFile(path, os.O_WRONLY|syncFlag, 0)
		}
	}
	if !spare || errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syncFlag, 0o600)
	}
	if err != nil {
		return fmt.Errorf("boltstore: log: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return fmt.Errorf("boltstore: log: %w", err)
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.size = f, 0
	return nil
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	return w.f.Close()
}

func segPath(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x.log", first))
}

// listSegments returns the first LSNs of the segments in dir, in order. Other files are
// left alone.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || len(name) != 16 || !e.Type().IsRegular() {
			continue
		}
		v, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		segs = append(segs, v)
	}
	slices.Sort(segs)
	return segs, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
