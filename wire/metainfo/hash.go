package metainfo

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// readChunk is the least a single read asks the disk for: small pieces are read several at a
// time so the disk sees long sequential reads, not 16 KiB ones.
const readChunk = 4 << 20

// chunk is a run of whole pieces read from the byte stream, handed to a hashing worker.
type chunk struct {
	first int // index of the first piece in buf
	buf   []byte
}

// hashOptions are hashPieces' optional parts.
type hashOptions struct {
	workers  int                     // 0: GOMAXPROCS
	v2       []v2Piece               // per piece, for hybrid torrents
	progress func(done, total int64) // called after each chunk read
}

// hashPieces returns the concatenated SHA-1 hashes of the pieces of the byte stream that
// srcs describe (total bytes, in pieces of pl). One goroutine reads sequentially into a few
// recycled buffers; the workers hash them. For a hybrid torrent, opts.v2 describes each piece
// and nodes gets each piece's v2 merkle node (see v2Node), from the same read.
func hashPieces(ctx context.Context, srcs []source, total, pl int64, opts hashOptions) (out []byte, nodes [][32]byte, err error) {
	v2 := opts.v2
	npieces := ceilDiv(total, pl)
	out = make([]byte, 20*npieces)
	if v2 != nil {
		nodes = make([][32]byte, npieces)
	}
	if npieces == 0 {
		return out, nodes, nil
	}
	n := workers(opts.workers)
	perChunk := max(1, readChunk/pl)
	chunkLen := perChunk * pl

	jobs := make(chan chunk)
	// n workers each hold one buffer, one more is being filled: n+1 buffers, allocated lazily.
	free := make(chan []byte, n+1)
	for range n + 1 {
		free <- nil
	}

	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for c := range jobs {
				for i := 0; int64(i)*pl < int64(len(c.buf)); i++ {
					piece := c.buf[int64(i)*pl : min(int64(i+1)*pl, int64(len(c.buf)))]
					h := sha1.Sum(piece)
					copy(out[20*(c.first+i):], h[:])
					if v2 != nil {
						p := v2[c.first+i]
						nodes[c.first+i] = v2Node(piece[:p.data], p, pl)
					}
				}
				free <- c.buf
			}
		})
	}

	err = func() error {
		defer close(jobs)
		r := &streamReader{srcs: srcs}
		defer r.Close()
		for first := int64(0); first < npieces; first += perChunk {
			// Checked first: select picks at random when a buffer is free too.
			if err := ctx.Err(); err != nil {
				return err
			}
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
			size := min(chunkLen, total-first*pl)
			if int64(cap(buf)) < size {
				buf = make([]byte, chunkLen)
			}
			buf = buf[:size]
			if _, err := io.ReadFull(r, buf); err != nil {
				return err
			}
			if opts.progress != nil {
				opts.progress(first*pl+size, total)
			}
			select {
			case jobs <- chunk{int(first), buf}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}()
	wg.Wait()
	if err != nil {
		return nil, nil, err
	}
	return out, nodes, nil
}

// streamReader reads the concatenation of srcs: file contents and zero-filled pads. A file
// that turns out shorter than its listed length (changed while hashing) is an error.
type streamReader struct {
	srcs []source
	f    *os.File
	left int64 // bytes left in srcs[0]
	open bool  // srcs[0] is current (file opened or pad started)
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.srcs) > 0 {
		s := r.srcs[0]
		if !r.open {
			if s.path != "" {
				f, err := os.Open(s.path)
				if err != nil {
					return 0, err
				}
				r.f = f
			}
			r.left, r.open = s.length, true
		}
		if r.left == 0 {
			r.Close()
			r.srcs = r.srcs[1:]
			continue
		}
		p = p[:min(int64(len(p)), r.left)]
		var n int
		var err error
		if r.f == nil { // a pad: zeros
			clear(p)
			n = len(p)
		} else {
			n, err = r.f.Read(p)
			if errors.Is(err, io.EOF) {
				if n == 0 {
					return 0, fmt.Errorf("metainfo: %s is shorter than when listed (changed while hashing?)", s.path)
				}
				err = nil
			}
		}
		r.left -= int64(n)
		return n, err
	}
	return 0, io.EOF
}

// Close closes the current file, if any.
func (r *streamReader) Close() error {
	r.open = false
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
