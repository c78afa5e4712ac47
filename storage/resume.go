package storage

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrResumeMismatch is wrapped by LoadResume when the resume file exists but cannot be
// trusted: it is corrupt, belongs to another torrent, or a file's size or modification
// time changed since it was saved. The caller then runs Recheck.
var ErrResumeMismatch = errors.New("storage: resume data does not match")

// resumeVersion changes whenever the format does; older files then just cause a recheck.
const resumeVersion = 1

// maxResumeSize bounds what LoadResume reads: a 1-million-piece, 100,000-file torrent
// needs well under this.
const maxResumeSize = 64 << 20

type resumeFile struct {
	Size    int64 `json:"size"` // -1: absent
	ModTime int64 `json:"mtime_ns"`
}

type resumeData struct {
	Version     int          `json:"version"`
	PieceLength int64        `json:"piece_length"`
	Pieces      int          `json:"pieces"`
	HashesSHA1  []byte       `json:"hashes_sha1"` // SHA-1 of all piece hashes: which torrent
	Files       []resumeFile `json:"files"`       // one per non-pad file, in order
	Have        []byte       `json:"have"`        // BEP 3 bitfield order
}

func (t *Torrent) hashesDigest() []byte {
	h := sha1.New()
	for _, x := range t.spec.Hashes {
		h.Write(x[:])
	}
	return h.Sum(nil)
}

// fileState is a file's size and modification time, Size -1 when it does not exist.
func fileState(path string) (resumeFile, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return resumeFile{Size: -1}, nil
	}
	if err != nil {
		return resumeFile{}, fmt.Errorf("storage: %w", err)
	}
	return resumeFile{Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}, nil
}

// SaveResume records which pieces are verified together with every file's size and
// modification time, so that a restart with unchanged files can skip the recheck. It
// takes the verified set first and flushes the files to disk (fsync) before recording
// their state, so it never lists a piece whose data is not durably on disk; the file is
// replaced atomically (temporary file, fsync, rename), so a crash leaves the old or the
// new version, never a torn one. Call it periodically while downloading and at exit.
func (t *Torrent) SaveResume(path string) error {
	if t.closed.Load() {
		return ErrClosed
	}
	have := make([]byte, (t.numPieces+7)/8)
	for i := 0; i < t.numPieces; i++ {
		if t.Have(i) {
			have[i>>3] |= 0x80 >> (i & 7)
		}
	}
	rd := resumeData{
		Version:     resumeVersion,
		PieceLength: t.spec.PieceLength,
		Pieces:      t.numPieces,
		HashesSHA1:  t.hashesDigest(),
		Have:        have,
	}
	for _, f := range t.files {
		if f.Pad {
			continue
		}
		f.mu.Lock()
		h, w := f.f, f.writable
		f.mu.Unlock()
		if h != nil && w {
			if err := h.Sync(); err != nil {
				return fmt.Errorf("storage: save resume: %w", err)
			}
		}
		st, err := fileState(f.path)
		if err != nil {
			return err
		}
		rd.Files = append(rd.Files, st)
	}
	data, err := json.Marshal(&rd)
	if err != nil {
		return fmt.Errorf("storage: save resume: %w", err)
	}
	return writeAtomic(path, data)
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("storage: save resume: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("storage: save resume: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("storage: save resume: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("storage: save resume: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("storage: save resume: %w", err)
	}
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadResume reads a resume file written by SaveResume. If it matches this torrent and
// every file's size and modification time are unchanged, the pieces it lists are marked
// verified and LoadResume returns true. A missing file returns (false, nil); a file that
// cannot be trusted returns false and an error wrapping ErrResumeMismatch saying why.
// In both cases nothing is marked and the caller should Recheck.
func (t *Torrent) LoadResume(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: load resume: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxResumeSize+1))
	f.Close()
	if err != nil {
		return false, fmt.Errorf("storage: load resume: %w", err)
	}
	if len(data) > maxResumeSize {
		return false, fmt.Errorf("%w: larger than %d bytes", ErrResumeMismatch, maxResumeSize)
	}
	var rd resumeData
	if err := json.Unmarshal(data, &rd); err != nil {
		return false, fmt.Errorf("%w: %w", ErrResumeMismatch, err)
	}
	switch {
	case rd.Version != resumeVersion:
		return false, fmt.Errorf("%w: version %d", ErrResumeMismatch, rd.Version)
	case rd.PieceLength != t.spec.PieceLength || rd.Pieces != t.numPieces ||
		string(rd.HashesSHA1) != string(t.hashesDigest()):
		return false, fmt.Errorf("%w: other torrent", ErrResumeMismatch)
	case len(rd.Have) != (t.numPieces+7)/8:
		return false, fmt.Errorf("%w: bitfield of %d bytes", ErrResumeMismatch, len(rd.Have))
	}
	if r := t.numPieces % 8; r != 0 && rd.Have[len(rd.Have)-1]&(0xff>>r) != 0 {
		return false, fmt.Errorf("%w: bitfield spare bits set", ErrResumeMismatch)
	}
	j := 0
	for _, f := range t.files {
		if f.Pad {
			continue
		}
		if j >= len(rd.Files) {
			return false, fmt.Errorf("%w: %d files recorded", ErrResumeMismatch, len(rd.Files))
		}
		st, err := fileState(f.path)
		if err != nil {
			return false, err
		}
		if st != rd.Files[j] {
			return false, fmt.Errorf("%w: %s changed (size %d -> %d)", ErrResumeMismatch, f.path, rd.Files[j].Size, st.Size)
		}
		j++
	}
	if j != len(rd.Files) {
		return false, fmt.Errorf("%w: %d files recorded, torrent has %d", ErrResumeMismatch, len(rd.Files), j)
	}
	for i := 0; i < t.numPieces; i++ {
		if rd.Have[i>>3]&(0x80>>(i&7)) != 0 {
			t.setHave(i, true)
		}
	}
	return true, nil
}

// Resume is what a session does at start: load the resume file, and if it is missing or
// cannot be trusted (LoadResume says why), recheck the data with workers goroutines. It
// returns the verified pieces and whether a recheck ran.
func (t *Torrent) Resume(ctx context.Context, path string, workers int) (have []bool, rechecked bool, err error) {
	ok, err := t.LoadResume(path)
	if ok {
		return t.Pieces(), false, nil
	}
	if err != nil && !errors.Is(err, ErrResumeMismatch) {
		return nil, false, err
	}
	have, err = t.Recheck(ctx, workers)
	return have, true, err
}
