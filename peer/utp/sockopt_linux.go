package utp

import (
	"encoding/binary"
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sizeBuffers sets the UDP socket's kernel buffers. The default receive buffer (about
// 208 KiB) overflows at loopback speeds and turns every burst into loss, so we ask for
// more; as root SO_RCVBUFFORCE/SO_SNDBUFFORCE go past net.core.rmem_max, otherwise the
// kernel clamps the plain options to it.
func sizeBuffers(u *net.UDPConn, n int) {
	rc, err := u.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, n)
		}
	})
}

// enableGRO asks the kernel to hand us runs of same-sized datagrams from one sender
// as one buffer (UDP generic receive offload); it reports whether it took.
func enableGRO(u *net.UDPConn) bool {
	rc, err := u.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		ok = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
	})
	return ok
}

// gsoOOBLen is the size of the control message that sets the segment size.
var gsoOOBLen = unix.CmsgSpace(2)

// haveOffload says whether this platform has UDP GSO and GRO at all.
const haveOffload = true

// putGSO fills oob (gsoOOBLen bytes) with a UDP_SEGMENT control message: the kernel
// cuts the buffer into datagrams of seg bytes (the last may be shorter).
func putGSO(oob []byte, seg int) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(seg))
}

// groSize returns the datagram size of a coalesced read from its control messages, or
// 0 if the read is one datagram.
func groSize(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_UDP && m.Header.Type == unix.UDP_GRO && len(m.Data) >= 2 {
			return int(binary.NativeEndian.Uint16(m.Data))
		}
	}
	return 0
}

// gsoUnsupported reports whether a send error means segmentation offload is not
// available on this socket or path (old kernel, a device that cannot do it, a segment
// bigger than the MTU), as opposed to an ordinary lost datagram.
func gsoUnsupported(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOPROTOOPT) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EMSGSIZE)
}
