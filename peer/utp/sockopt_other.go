//go:build !linux

package utp

import "net"

// sizeBuffers sets the UDP socket's kernel buffers; the default receive buffer overflows
// at loopback speeds.
func sizeBuffers(u *net.UDPConn, n int) {
	_ = u.SetReadBuffer(n)
	_ = u.SetWriteBuffer(n)
}
