package storage

import (
	"fmt"
	"io"
)

// sendHeaderRoom is the space kept before the data in a send buffer, so that the piece
// message header (13 bytes) and the block go out in one Write: on uTP one Write is one
// run of packets, and on TCP without sendfile it saves a segment.
const sendHeaderRoom = 64

type sendBuf [sendHeaderRoom + BlockSize]byte

// SendBlock writes header (normally the 13-byte piece message header; may be empty)
// followed by length bytes at offset begin of piece to w, and returns the bytes written.
// The piece must be verified (ErrNotHave otherwise): only checked data is served.
//
// When w is a socket the OS can sendfile(2) to (a *net.TCPConn or *net.UnixConn on
// Linux), the data goes from the page cache to the socket without a user-space copy,
// read at an explicit offset so the shared *os.File is never seeked, and the header is
// sent with MSG_MORE so that it shares a segment with the data. The socket's write
// deadline applies. Otherwise (uTP, encrypted streams, pad files, other systems) the
// block is read into a pooled buffer and written with one Write per 16 KiB.
//
// If w buffers (bufio.Writer), flush it first: SendBlock writes to the socket directly.
func (t *Torrent) SendBlock(w io.Writer, header []byte, piece, begin, length int) (int64, error) {
	off, err := t.span(piece, begin, length)
	if err != nil {
		return 0, err
	}
	if !t.Have(piece) {
		return 0, fmt.Errorf("%w: piece %d", ErrNotHave, piece)
	}
	if !t.opts.NoSendfile && len(header) <= sendHeaderRoom {
		if n, handled, err := t.sendfile(w, header, off, int64(length)); handled {
			return n, err
		}
	}
	n, err := t.sendCopy(w, header, off, int64(length))
	t.stats.bytesCopied.Add(n)
	return n, err
}

// sendCopy is the portable path: pread into a pooled buffer, then Write.
func (t *Torrent) sendCopy(w io.Writer, header []byte, off, length int64) (int64, error) {
	buf, _ := t.sendPool.Get().(*sendBuf)
	if buf == nil {
		buf = new(sendBuf)
	}
	defer t.sendPool.Put(buf)
	var sent int64
	h := header
	for length > 0 || len(h) > 0 {
		n := min(length, BlockSize)
		var chunk []byte
		if len(h) <= sendHeaderRoom {
			start := sendHeaderRoom - len(h)
			copy(buf[start:], h)
			chunk = buf[start : sendHeaderRoom+n]
		} else {
			if _, err := w.Write(h); err != nil {
				return sent, err
			}
			sent += int64(len(h))
			chunk = buf[sendHeaderRoom : sendHeaderRoom+n]
		}
		h = nil
		if err := t.readAt(buf[sendHeaderRoom:sendHeaderRoom+n], off); err != nil {
			return sent, err
		}
		m, err := w.Write(chunk)
		sent += int64(m)
		if err != nil {
			return sent, err
		}
		off += n
		length -= n
	}
	return sent, nil
}
