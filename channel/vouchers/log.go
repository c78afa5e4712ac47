// Package vouchers keeps a payee's accepted vouchers durably until the ledger confirms their
// settlement: an append-only file of fixed-size, checksummed records, fsync'd before an
// append returns. A provider counts a voucher only once it is here, so a crash or a ledger
// outage loses no payment: on restart the log lists the channels still to settle.
//
// File layout: records of RecordSize bytes, each
//
//	kind (1) | channel (32) | payer key (33) | sequence (8) | cumulative (8) | piece (4) |
//	signature (64) | expiry (8) | paid (8) | CRC-32C of the preceding bytes (4)
//
// kind 1 is an accepted voucher (paid 0), kind 2 a confirmed settlement (the voucher fields
// repeat the closing voucher, paid is what the ledger paid). A torn tail (a crash inside a
// write) is cut off on open; a bad checksum before the tail is an error. Open rewrites the
// file with only the channels still pending, so it never grows beyond one record per
// unsettled channel plus what the current run appended.
package vouchers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/speedbt/btt/channel"
)

// RecordSize is the size of one record.
const RecordSize = 1 + 32 + channel.PublicKeySize + 8 + 8 + 4 + channel.SignatureSize + 8 + 8 + 4

const (
	kindVoucher = 1
	kindSettled = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt reports a record that fails its checksum before the end of the file.
var ErrCorrupt = errors.New("vouchers: corrupt log")

// ErrLocked reports a log another process holds open.
var ErrLocked = errors.New("vouchers: log in use by another process")

// Entry is a channel's last accepted voucher.
type Entry struct {
	Payer   channel.PublicKey
	Voucher channel.SignedVoucher
	Expiry  uint64 // the channel's expiry, Unix seconds
}

// Log is an open voucher log. Its methods are safe for concurrent use.
type Log struct {
	path string

	mu      sync.Mutex
	f       *os.File
	written uint64 // records written
	pending map[channel.ChannelID]Entry
	settled map[channel.ChannelID]uint64 // settled this run (or before, until compacted)

	syncMu sync.Mutex
	synced uint64 // records known durable
}

// Open opens (creating if needed) the log at path, takes an exclusive lock on it, reads it
// back and compacts it.
func Open(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vouchers: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrLocked, path, err)
	}
	l := &Log{path: path, f: f, pending: map[channel.ChannelID]Entry{}, settled: map[channel.ChannelID]uint64{}}
	if err := l.load(); err != nil {
		f.Close()
		return nil, err
	}
	if err := l.compact(); err != nil {
		l.f.Close()
		return nil, err
	}
	return l, nil
}

func (l *Log) load() error {
	data, err := io.ReadAll(l.f)
	if err != nil {
		return fmt.Errorf("vouchers: reading %s: %w", l.path, err)
	}
	for off := 0; off+RecordSize <= len(data); off += RecordSize {
		kind, e, paid, err := decode(data[off : off+RecordSize])
		if err != nil {
			if off+2*RecordSize > len(data) {
				break // the last record: torn by a crash, never acknowledged
			}
			return fmt.Errorf("%w: record at %d: %v", ErrCorrupt, off, err)
		}
		id := e.Voucher.Channel
		switch kind {
		case kindVoucher:
			if _, done := l.settled[id]; !done && e.Voucher.Sequence > l.pending[id].Voucher.Sequence {
				l.pending[id] = e
			}
		case kindSettled:
			delete(l.pending, id)
			l.settled[id] = paid
		}
	}
	return nil
}

// compact rewrites the file with the pending channels only, atomically.
func (l *Log) compact() error {
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("vouchers: %w", err)
	}
	ids := make([]channel.ChannelID, 0, len(l.pending))
	for id := range l.pending {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	buf := make([]byte, 0, len(ids)*RecordSize)
	for _, id := range ids {
		buf = encode(buf, kindVoucher, l.pending[id], 0)
	}
	if _, err := f.Write(buf); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(l.path))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("vouchers: compacting %s: %w", l.path, err)
	}
	l.f.Close()
	l.f = f
	l.settled = map[channel.ChannelID]uint64{}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func encode(b []byte, kind byte, e Entry, paid uint64) []byte {
	start := len(b)
	v := e.Voucher
	b = append(b, kind)
	b = append(b, v.Channel[:]...)
	b = append(b, e.Payer[:]...)
	b = binary.BigEndian.AppendUint64(b, v.Sequence)
	b = binary.BigEndian.AppendUint64(b, v.Cumulative)
	b = binary.BigEndian.AppendUint32(b, v.Piece)
	b = append(b, v.Sig[:]...)
	b = binary.BigEndian.AppendUint64(b, e.Expiry)
	b = binary.BigEndian.AppendUint64(b, paid)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

func decode(r []byte) (kind byte, e Entry, paid uint64, err error) {
	if len(r) != RecordSize {
		return 0, e, 0, fmt.Errorf("record of %d bytes", len(r))
	}
	body := r[:RecordSize-4]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(r[RecordSize-4:]) {
		return 0, e, 0, errors.New("checksum mismatch")
	}
	kind = r[0]
	if kind != kindVoucher && kind != kindSettled {
		return 0, e, 0, fmt.Errorf("unknown kind %d", kind)
	}
	r = r[1:]
	copy(e.Voucher.Channel[:], r)
	r = r[32:]
	copy(e.Payer[:], r)
	r = r[channel.PublicKeySize:]
	e.Voucher.Sequence = binary.BigEndian.Uint64(r)
	e.Voucher.Cumulative = binary.BigEndian.Uint64(r[8:])
	e.Voucher.Piece = binary.BigEndian.Uint32(r[16:])
	r = r[20:]
	copy(e.Voucher.Sig[:], r)
	r = r[channel.SignatureSize:]
	e.Expiry = binary.BigEndian.Uint64(r)
	paid = binary.BigEndian.Uint64(r[8:])
	return kind, e, paid, nil
}

// write appends one record and returns its number; durable only after sync(n).
func (l *Log) write(rec []byte) (uint64, error) {
	if _, err := l.f.Write(rec); err != nil {
		return 0, fmt.Errorf("vouchers: writing %s: %w", l.path, err)
	}
	l.written++
	return l.written, nil
}

// sync makes records up to n durable. Concurrent callers share one fsync (group commit):
// whoever syncs covers everything written before it started.
func (l *Log) sync(n uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= n {
		return nil
	}
	l.mu.Lock()
	upTo, f := l.written, l.f
	l.mu.Unlock()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("vouchers: syncing %s: %w", l.path, err)
	}
	l.synced = upTo
	return nil
}

// Append stores an accepted voucher of a channel expiring at expiry (Unix seconds). When
// it returns nil the voucher survives a crash. A voucher of a channel already settled is not
// written: the payee settles on the last voucher it accepted, so the settlement covered it.
func (l *Log) Append(payer channel.PublicKey, v channel.SignedVoucher, expiry uint64) error {
	e := Entry{Payer: payer, Voucher: v, Expiry: expiry}
	var buf [RecordSize]byte
	rec := encode(buf[:0], kindVoucher, e, 0)
	l.mu.Lock()
	if _, done := l.settled[v.Channel]; done {
		l.mu.Unlock()
		return nil
	}
	n, err := l.write(rec)
	if err == nil && v.Sequence > l.pending[v.Channel].Voucher.Sequence {
		l.pending[v.Channel] = e
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.sync(n)
}

// Settled records that the ledger closed the channel and paid paid. It reports first =
// false when the settlement was already recorded (a retry answered by the ledger's
// idempotent replay): the caller counts a settlement only when first.
func (l *Log) Settled(ch channel.ChannelID, paid uint64) (first bool, err error) {
	l.mu.Lock()
	if _, done := l.settled[ch]; done {
		l.mu.Unlock()
		return false, nil
	}
	e, ok := l.pending[ch]
	if !ok {
		e.Voucher.Channel = ch
	}
	var buf [RecordSize]byte
	n, err := l.write(encode(buf[:0], kindSettled, e, paid))
	if err == nil {
		delete(l.pending, ch)
		l.settled[ch] = paid
	}
	l.mu.Unlock()
	if err != nil {
		return false, err
	}
	return true, l.sync(n)
}

// Last returns the last voucher stored for a channel not yet settled.
func (l *Log) Last(ch channel.ChannelID) (Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.pending[ch]
	return e, ok
}

// Pending returns the channels with stored vouchers and no confirmed settlement.
func (l *Log) Pending() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Entry, 0, len(l.pending))
	for _, e := range l.pending {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Voucher.Channel[:]) < string(out[j].Voucher.Channel[:]) })
	return out
}

// Close releases the log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
