package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sender carries one SendBlock's state through the RawConn callbacks. Its callbacks are
// bound once, when the sender is made, and senders are pooled, so a send allocates only
// what net's SyscallConn does.
type sender struct {
	rc     syscall.RawConn // the socket
	buf    []byte          // header left to send
	flags  int
	ffd    int
	name   string
	off    int64 // file offset
	length int64 // file bytes left
	sent   int64
	err    error

	headerFn   func(fd uintptr) bool
	sendfileFn func(fd uintptr) bool
	controlFn  func(fd uintptr)
}

func newSender() *sender {
	s := new(sender)
	s.headerFn = s.header
	s.sendfileFn = s.sendfile
	s.controlFn = s.control
	return s
}

func (s *sender) header(fd uintptr) bool {
	for len(s.buf) > 0 {
		n, err := unix.SendmsgN(int(fd), s.buf, nil, nil, s.flags)
		if n > 0 {
			s.buf = s.buf[n:]
			s.sent += int64(n)
		}
		switch {
		case err == unix.EAGAIN:
			return false
		case err == unix.EINTR:
			continue
		case err != nil:
			s.err = os.NewSyscallError("sendmsg", err)
			return true
		}
	}
	return true
}

func (s *sender) sendfile(fd uintptr) bool {
	for s.length > 0 {
		// The kernel caps one call near 2 GiB; blocks are far smaller.
		n, err := unix.Sendfile(int(fd), s.ffd, &s.off, int(min(s.length, 1<<30)))
		if n > 0 {
			s.sent += int64(n)
			s.length -= int64(n)
		}
		switch {
		case err == unix.EAGAIN:
			return false // wait until writable; the conn's write deadline applies
		case err == unix.EINTR:
			continue
		case err != nil:
			s.err = os.NewSyscallError("sendfile", err)
			return true
		case n == 0:
			s.err = fmt.Errorf("%w: %s ends before offset %d", ErrShortFile, s.name, s.off)
			return true
		}
	}
	return true
}

// control runs with the file's descriptor held open (so Close cannot recycle it mid-send).
func (s *sender) control(fd uintptr) {
	s.ffd = int(fd)
	if err := s.rc.Write(s.sendfileFn); err != nil && s.err == nil {
		s.err = err
	}
}

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
	s, _ := t.senders.Get().(*sender)
	if s == nil {
		s = newSender()
	}
	defer func() {
		s.rc, s.buf, s.err = nil, nil, nil
		t.senders.Put(s)
	}()
	s.rc, s.sent, s.err = rc, 0, nil
	if len(header) > 0 {
		s.buf, s.flags = header, unix.MSG_NOSIGNAL // EPIPE, not SIGPIPE, on a closed peer
		if length > 0 {
			s.flags |= unix.MSG_MORE // keep the header in the data's first segment
		}
		if werr := rc.Write(s.headerFn); werr != nil && s.err == nil {
			s.err = werr
		}
		if s.err != nil {
			if s.sent == 0 && errors.Is(s.err, unix.ENOTSOCK) {
				return 0, false, nil
			}
			t.stats.bytesSendfile.Add(s.sent)
			return s.sent, true, s.err
		}
	}
	hdrSent := s.sent
	err = t.segments(off, length, func(f *file, foff int64, _, l int) error {
		h, raw, err := t.acquireRaw(f)
		if err != nil {
			return err
		}
		s.off, s.length, s.name = foff, int64(l), h.Name()
		if cerr := raw.Control(s.controlFn); cerr != nil && s.err == nil {
			s.err = cerr
		}
		t.release(f)
		if s.err != nil && s.sent == hdrSent && (errors.Is(s.err, unix.EINVAL) || errors.Is(s.err, unix.ENOSYS)) {
			return errNoSendfile
		}
		return s.err
	})
	if err == errNoSendfile {
		// The file system cannot sendfile before a byte of data went out. The header may
		// have gone out already; copy the data.
		t.stats.bytesSendfile.Add(hdrSent)
		if hdrSent == 0 {
			return 0, false, nil
		}
		m, err := t.sendCopy(w, nil, off, length)
		t.stats.bytesCopied.Add(m)
		return hdrSent + m, true, err
	}
	t.stats.bytesSendfile.Add(s.sent)
	return s.sent, true, err
}

var errNoSendfile = errors.New("sendfile not supported")
