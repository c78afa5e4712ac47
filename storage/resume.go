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
	for _, p := range t.spec.V2 {
		h.Write(p.Root[:])
	}
	return h.Sum(nil)
}

// fileState is a file's size and modification time, Size -1 when it does not exist.
func (t *Torrent) fileState(f *file) (resumeFile, error) {
	root, err := t.dirRoot(false)
	if errors.Is(err, fs.ErrNotExist) {
		return resumeFile{Size: -1}, nil
	}
	if err != nil {
		return resumeFile{}, err
	}
	fi, err := root.Stat(f.rel)
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
	if err := t.syncDirty(); err != nil {
		return fmt.Errorf("storage: save resume: %w", err)
	}
	for _, f := range t.files {
		if f.Pad {
			continue
		}
		st, err := t.fileState(f)
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

// readResume reads and checks a resume file against this torrent, without looking at the
// data files. A missing file gives (nil, nil).
func (t *Torrent) readResume(path string) (*resumeData, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: load resume: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxResumeSize+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("storage: load resume: %w", err)
	}
	if len(data) > maxResumeSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrResumeMismatch, maxResumeSize)
	}
	var rd resumeData
	if err := json.Unmarshal(data, &rd); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResumeMismatch, err)
	}
	nonPad := 0
	for _, f := range t.files {
		if !f.Pad {
			nonPad++
		}
	}
	switch {
	case rd.Version != resumeVersion:
		return nil, fmt.Errorf("%w: version %d", ErrResumeMismatch, rd.Version)
	case rd.PieceLength != t.spec.PieceLength || rd.Pieces != t.numPieces ||
		string(rd.HashesSHA1) != string(t.hashesDigest()):
		return nil, fmt.Errorf("%w: other torrent", ErrResumeMismatch)
	case len(rd.Have) != (t.numPieces+7)/8:
		return nil, fmt.Errorf("%w: bitfield of %d bytes", ErrResumeMismatch, len(rd.Have))
	case len(rd.Files) != nonPad:
		return nil, fmt.Errorf("%w: %d files recorded, torrent has %d", ErrResumeMismatch, len(rd.Files), nonPad)
	}
	if r := t.numPieces % 8; r != 0 && rd.Have[len(rd.Have)-1]&(0xff>>r) != 0 {
		return nil, fmt.Errorf("%w: bitfield spare bits set", ErrResumeMismatch)
	}
	return &rd, nil
}

// changedFiles compares the data files with the resume record: changed[f] is true when
// file f has another size or modification time. why describes the first change.
func (t *Torrent) changedFiles(rd *resumeData) (changed map[*file]bool, why error, err error) {
	changed = make(map[*file]bool)
	j := 0
	for _, f := range t.files {
		if f.Pad {
			continue
		}
		st, err := t.fileState(f)
		if err != nil {
			return nil, nil, err
		}
		if st != rd.Files[j] {
			changed[f] = true
			if why == nil {
				why = fmt.Errorf("%w: %s changed (size %d -> %d)", ErrResumeMismatch, f.path, rd.Files[j].Size, st.Size)
			}
		}
		j++
	}
	return changed, why, nil
}

func (rd *resumeData) has(i int) bool { return rd.Have[i>>3]&(0x80>>(i&7)) != 0 }

// LoadResume reads a resume file written by SaveResume. If it matches this torrent and
// every file's size and modification time are unchanged, the pieces it lists are marked
// verified and LoadResume returns true. A missing file returns (false, nil); a file that
// cannot be trusted returns false and an error wrapping ErrResumeMismatch saying why.
// In both cases nothing is marked.
func (t *Torrent) LoadResume(path string) (bool, error) {
	rd, err := t.readResume(path)
	if rd == nil {
		return false, err
	}
	_, why, err := t.changedFiles(rd)
	if err != nil {
		return false, err
	}
	if why != nil {
		return false, why
	}
	for i := 0; i < t.numPieces; i++ {
		if rd.has(i) {
			t.setHave(i, true)
		}
	}
	return true, nil
}

// Resume is what a session does at start. With no usable resume file it rechecks every
// piece. With one whose files partly changed since it was saved (the usual state after a
// crash mid-download), it trusts the listed pieces that lie entirely in unchanged files
// and rehashes only the pieces that touch a changed file. It returns the verified pieces
// and whether any piece was hashed.
func (t *Torrent) Resume(ctx context.Context, path string, workers int) (have []bool, rechecked bool, err error) {
	rd, err := t.readResume(path)
	if err != nil && !errors.Is(err, ErrResumeMismatch) {
		return nil, false, err
	}
	if rd == nil {
		have, err = t.Recheck(ctx, workers)
		return have, true, err
	}
	changed, _, err := t.changedFiles(rd)
	if err != nil {
		return nil, false, err
	}
	var todo []int
	for i := 0; i < t.numPieces; i++ {
		touched := false
		size := t.PieceSize(i)
		t.segments(int64(i)*t.spec.PieceLength, size, func(f *file, _ int64, _, _ int) error {
			touched = touched || changed[f]
			return nil
		})
		if touched {
			todo = append(todo, i)
		} else if rd.has(i) {
			t.setHave(i, true)
		}
	}
	if len(todo) == 0 {
		return t.Pieces(), false, nil
	}
	have, err = t.recheck(ctx, workers, todo)
	return have, true, err
}
