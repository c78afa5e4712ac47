package dht

import (
	"context"
	"errors"
	"net"
	"net/netip"
)

// UDPSender returns a Config.Send that writes to c.
func UDPSender(c *net.UDPConn) func([]byte, netip.AddrPort) error {
	return func(b []byte, to netip.AddrPort) error {
		_, err := c.WriteToUDPAddrPort(b, to)
		return err
	}
}

// Serve reads datagrams from c and hands them to the node until ctx ends or c fails.
// Use it when the DHT owns its socket; when the socket is shared with uTP, the uTP
// layer calls HandlePacket for packets that start with 'd' instead.
func (n *Node) Serve(ctx context.Context, c *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	buf := make([]byte, 65536)
	for {
		k, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		n.HandlePacket(buf[:k], from)
	}
}

// PacketWriter is what Config.Send needs from a socket. net.PacketConn has it, and so
// does the uTP socket that shares the session's port with the DHT.
type PacketWriter interface {
	WriteTo(b []byte, addr net.Addr) (int, error)
}

// SendVia returns a Config.Send that writes through w.
func SendVia(w PacketWriter) func([]byte, netip.AddrPort) error {
	return func(b []byte, to netip.AddrPort) error {
		_, err := w.WriteTo(b, net.UDPAddrFromAddrPort(to))
		return err
	}
}

// HandleFrom is HandlePacket for callers that have a net.Addr, such as the uTP socket's
// hook for datagrams that are not uTP. Addresses other than UDP are ignored. b is not
// retained.
func (n *Node) HandleFrom(b []byte, from net.Addr) {
	if ua, ok := from.(*net.UDPAddr); ok {
		n.HandlePacket(b, ua.AddrPort())
	}
}
