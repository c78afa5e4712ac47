//go:build !linux

package storage

import "io"

// sendfile is Linux-only for now; elsewhere SendBlock copies through a buffer.
func (t *Torrent) sendfile(w io.Writer, header []byte, off, length int64) (int64, bool, error) {
	return 0, false, nil
}
