package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// file is one torrent file and its lazily opened handle. The handle fields are guarded
// by Torrent.fmu.
type file struct {
	File
	path  string // on disk, for messages
	rel   string // relative to the download folder, opened through Torrent.root
	start int64  // offset in the torrent

	f          *os.File
	raw        syscall.RawConn // f's, made once per handle: SyscallConn allocates
	writable   bool
	dirty      bool // written since SaveResume last synced it
	refs       int  // calls using f right now; only idle handles are evicted
	prev, next *file
}

// acquire returns the file's open handle, opening it on first use, and holds it until
// release. Reads do not create files (a missing file is an error wrapping
// fs.ErrNotExist); writes do, sparse at full length so the size is right from the start.
// A handle is opened read-write whenever possible so that it never has to be swapped
// while others use it.
//
// Opening happens under fmu: it serialises the torrent's opens, which only happen on a
// file's first use or after an eviction.
func (t *Torrent) acquire(f *file, write bool) (*os.File, error) {
	t.fmu.Lock()
	defer t.fmu.Unlock()
	// Checked under fmu: Close sets closed before it takes fmu, so a handle opened here
	// is either refused or closed by Close, never leaked.
	if t.closed.Load() {
		return nil, ErrClosed
	}
	if f.f == nil {
		if err := t.openFile(f, write); err != nil {
			return nil, err
		}
	} else if write && !f.writable {
		if t.opts.ReadOnly {
			return nil, ErrReadOnly
		}
		return nil, fmt.Errorf("storage: %s: opened read-only", f.path)
	}
	f.refs++
	f.dirty = f.dirty || write
	t.touch(f)
	return f.f, nil
}

// release ends a use of the handle acquire returned.
func (t *Torrent) release(f *file) {
	t.fmu.Lock()
	f.refs--
	t.fmu.Unlock()
}

// acquireRaw is acquire for reading plus the handle's RawConn, for sendfile.
func (t *Torrent) acquireRaw(f *file) (*os.File, syscall.RawConn, error) {
	h, err := t.acquire(f, false)
	if err != nil {
		return nil, nil, err
	}
	t.fmu.Lock()
	defer t.fmu.Unlock()
	if f.raw == nil {
		raw, err := h.SyscallConn()
		if err != nil {
			f.refs--
			return nil, nil, fmt.Errorf("storage: %w", err)
		}
		f.raw = raw
	}
	return h, f.raw, nil
}

// openFile opens f's handle. The caller holds fmu.
func (t *Torrent) openFile(f *file, write bool) error {
	if write && t.opts.ReadOnly {
		return ErrReadOnly
	}
	var h *os.File
	var err error
	writable := false
	root, err := t.dirRoot(write)
	if err != nil {
		return err
	}
	if !t.opts.ReadOnly {
		h, err = root.OpenFile(f.rel, os.O_RDWR, 0)
		switch {
		case err == nil:
			writable = true
		case write && errors.Is(err, fs.ErrNotExist):
			if h, err = create(root, f); err != nil {
				return err
			}
			writable = true
		case write || errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("storage: %w", err)
		}
	}
	if h == nil { // read-only torrent, or no write permission: read what we can
		if h, err = root.Open(f.rel); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
	}
	if max := t.opts.MaxOpenFiles; max > 0 {
		for t.open >= max && t.evict() {
		}
	}
	f.f, f.raw, f.writable = h, nil, writable
	t.open++
	return nil
}

// create makes a missing file, sparse at its full length.
func create(root *os.Root, f *file) (*os.File, error) {
	if err := root.MkdirAll(filepath.Dir(f.rel), 0o755); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	h, err := root.OpenFile(f.rel, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	// Sparse: no blocks are allocated, the size is final. Only grow: a file that appeared
	// meanwhile is left alone.
	if fi, err := h.Stat(); err == nil && fi.Size() < f.Length {
		if err := h.Truncate(f.Length); err != nil {
			h.Close()
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	return h, nil
}

// touch moves f to the front of the LRU list, inserting it if new. The caller holds fmu.
func (t *Torrent) touch(f *file) {
	if t.lru == f {
		return
	}
	if f.next != nil { // in the list: unlink
		f.prev.next, f.next.prev = f.next, f.prev
	}
	if t.lru == nil {
		f.prev, f.next = f, f
	} else {
		f.next, f.prev = t.lru, t.lru.prev
		t.lru.prev.next = f
		t.lru.prev = f
	}
	t.lru = f
}

// evict closes the least recently used idle handle and reports whether there was one.
// The caller holds fmu. With every handle busy the cap is exceeded until the next open
// finds idle ones.
func (t *Torrent) evict() bool {
	if t.lru == nil {
		return false
	}
	for f := t.lru.prev; ; f = f.prev {
		if f.refs == 0 {
			t.closeHandle(f)
			return true
		}
		if f == t.lru {
			return false
		}
	}
}

// closeHandle closes f's handle and unlinks it from the LRU list. The caller holds fmu.
// Data written through it is in the page cache; SaveResume syncs dirty files by path.
func (t *Torrent) closeHandle(f *file) error {
	err := f.f.Close()
	f.f, f.raw = nil, nil
	t.open--
	if f.next == f {
		t.lru = nil
	} else {
		f.prev.next, f.next.prev = f.next, f.prev
		if t.lru == f {
			t.lru = f.next
		}
	}
	f.prev, f.next = nil, nil
	return err
}

// Close closes the files. Calls in progress may fail with ErrClosed or os.ErrClosed.
func (t *Torrent) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.fmu.Lock()
	defer t.fmu.Unlock()
	var first error
	for t.lru != nil {
		if err := t.closeHandle(t.lru); err != nil && first == nil {
			first = err
		}
	}
	t.rootMu.Lock()
	if t.root != nil {
		if err := t.root.Close(); err != nil && first == nil {
			first = err
		}
		t.root = nil
	}
	t.rootMu.Unlock()
	return first
}

// reopen opens f read-write through the download folder (to sync an evicted file).
func (t *Torrent) reopen(f *file) (*os.File, error) {
	root, err := t.dirRoot(false)
	if err != nil {
		return nil, err
	}
	return root.OpenFile(f.rel, os.O_RDWR, 0)
}

// syncDirty fsyncs every file written since the last call, through its open handle or,
// if it was evicted, through a new one (fsync flushes the file, whichever descriptor
// wrote it).
func (t *Torrent) syncDirty() error {
	for _, f := range t.files {
		if f.Pad {
			continue
		}
		t.fmu.Lock()
		if !f.dirty || t.closed.Load() {
			t.fmu.Unlock()
			continue
		}
		f.dirty = false // a write from now on sets it again
		h := f.f
		if h != nil {
			f.refs++
		}
		t.fmu.Unlock()
		var err error
		if h != nil {
			err = h.Sync()
			t.release(f)
		} else if h, err = t.reopen(f); err == nil {
			err = h.Sync()
			h.Close()
		}
		if err != nil {
			t.fmu.Lock()
			f.dirty = true
			t.fmu.Unlock()
			return fmt.Errorf("storage: sync: %w", err)
		}
	}
	return nil
}
