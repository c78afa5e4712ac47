package tracker

import (
	"context"
	"net"
	"net/http"
)

// Announces leave from the client's listen address when it has a specific one
// (libtorrent's outgoing_interfaces): a tracker lists a peer at the source
// address of its announce, so a client listening on 127.0.0.2 that announced
// from 127.0.0.1 would be listed where nobody answers.

// dialer returns a dialer bound to c.LocalAddr for a network of the same
// family, and the network to use ("tcp4"/"udp4" or "tcp6"/"udp6"; unchanged
// when unbound).
func (c *Client) dialer(network string) (net.Dialer, string) {
	var d net.Dialer
	a := c.LocalAddr.Unmap()
	if !a.IsValid() || a.IsUnspecified() {
		return d, network
	}
	fam := "4"
	if a.Is6() {
		fam = "6"
	}
	switch network {
	case "tcp":
		d.LocalAddr = &net.TCPAddr{IP: a.AsSlice(), Zone: a.Zone()}
	case "udp":
		d.LocalAddr = &net.UDPAddr{IP: a.AsSlice(), Zone: a.Zone()}
	}
	return d, network + fam
}

// httpClient is c.HTTP, or a client whose connections leave from LocalAddr, or
// http.DefaultClient.
func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	if a := c.LocalAddr; !a.IsValid() || a.IsUnspecified() {
		return http.DefaultClient
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bound == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			d, nw := c.dialer(network)
			return d.DialContext(ctx, nw, addr)
		}
		c.bound = &http.Client{Transport: tr}
	}
	return c.bound
}
