package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendfile sends header and [off, off+length) of the torrent to w with send(MSG_MORE)
// and sendfile(2). handled is false when w is not a socket we can use, or when the kernel
// refused sendfile before anything was sent; the caller then copies instead.
func (t *Torrent) sendfile(w io.Writer, header []byte, off, length int64) (n int64, handled bool, err error) {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return 0, false, nil
	}
	if _, isFile := w.(*os.File); isFile { // a pipe or file: not worth the special cases
		return 0, false, nil
	}
	// Pad ranges have no file to send from; they are rare (BEP 47 pads sit between files).
	pad := false
	t.segments(off, length, func(f *file, _ int64, _, _ int) error {
		pad = pad || f.Pad
		return nil
	})
	if pad {
		return 0, false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var sent int64
	more := length > 0
	if len(header) > 0 {
		if err := sendHeader(rc, header, more); err != nil {
			if errors.Is(err, unix.ENOTSOCK) {
				return 0, false, nil
			}
			return 0, true, err // a partial header is not counted; the connection is broken anyway
		}
		sent = int64(len(header))
	}
	var data int64
	err = t.segments(off, length, func(f *file, foff int64, _, l int) error {
		h, err := t.handle(f, false)
		if err != nil {
			return err
		}
		m, err := sendFileRange(rc, h, foff, int64(l))
		data += m
		if err != nil && data == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)) {
			return errNoSendfile
		}
		return err
	})
	if err == errNoSendfile {
		// The file system cannot sendfile (EINVAL) before a byte of data went out. The
		// header went out already; copy the data (counted as copied, the header not).
		if sent == 0 {
			return 0, false, nil
		}
		m, err := t.sendCopy(w, nil, off, length)
		t.stats.bytesSendfile.Add(sent)
		t.stats.bytesCopied.Add(m)
		return sent + m, true, err
	}
	t.stats.bytesSendfile.Add(sent + data)
	return sent + data, true, err
}

var errNoSendfile = errors.New("sendfile not supported")

func sendHeader(rc syscall.RawConn, header []byte, more bool) error {
	flags := 0
	if more {
		flags = unix.MSG_MORE
	}
	var serr error
	werr := rc.Write(func(fd uintptr) bool {
		for len(header) > 0 {
			n, err := unix.SendmsgN(int(fd), header, nil, nil, flags)
			if n > 0 {
				header = header[n:]
			}
			switch {
			case err == unix.EAGAIN:
				return false
			case err == unix.EINTR:
				continue
			case err != nil:
				serr = os.NewSyscallError("sendmsg", err)
				return true
			}
		}
		return true
	})
	if werr != nil {
		return werr
	}
	return serr
}

// sendFileRange sends length bytes at off of h to the socket, waiting for the socket to
// become writable as needed (so the conn's write deadline applies).
func sendFileRange(rc syscall.RawConn, h *os.File, off, length int64) (int64, error) {
	frc, err := h.SyscallConn()
	if err != nil {
		return 0, err
	}
	var sent int64
	var serr error
	cerr := frc.Control(func(ffd uintptr) {
		werr := rc.Write(func(sfd uintptr) bool {
			for length > 0 {
				// The kernel caps one call at about 2 GiB; blocks are far smaller.
				n, err := unix.Sendfile(int(sfd), int(ffd), &off, int(min(length, 1<<30)))
				if n > 0 {
					sent += int64(n)
					length -= int64(n)
				}
				switch {
				case err == unix.EAGAIN:
					return false
				case err == unix.EINTR:
					continue
				case err != nil:
					serr = os.NewSyscallError("sendfile", err)
					return true
				case n == 0:
					serr = fmt.Errorf("%w: %s ends before offset %d", ErrShortFile, h.Name(), off)
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr == nil {
		serr = cerr
	}
	return sent, serr
}
