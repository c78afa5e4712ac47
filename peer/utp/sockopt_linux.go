package utp

import (
	"net"

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
