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
