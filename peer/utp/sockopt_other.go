//go:build !linux

package utp

import "net"

// sizeBuffers sets the UDP socket's kernel buffers; the default receive buffer overflows
// at loopback speeds.
func sizeBuffers(u *net.UDPConn, n int) {
	_ = u.SetReadBuffer(n)
	_ = u.SetWriteBuffer(n)
}

// Segmentation and receive offloads are Linux-only.
func enableGRO(*net.UDPConn) bool { return false }
func groSize([]byte) int          { return 0 }
func putGSO([]byte, int)          {}
func gsoUnsupported(error) bool   { return true }

const (
	gsoOOBLen   = 0
	haveOffload = false
)
