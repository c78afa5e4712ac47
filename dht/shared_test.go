package dht_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/speedbt/btt/dht"
	"github.com/speedbt/btt/peer/utp"
)

// TestSharedUTPSocket runs a node on the session's UDP port shared with uTP: the uTP
// socket hands it the datagrams that are not uTP, and it sends through the socket.
func TestSharedUTPSocket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var node *dht.Node
	ready := make(chan struct{})
	sock, err := utp.NewSocket(pc, utp.Config{Unhandled: func(b []byte, from net.Addr) {
		<-ready
		node.HandleFrom(b, from)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	node, err = dht.New(dht.Config{Send: dht.SendVia(sock)})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	close(ready)
	shared := pc.LocalAddr().(*net.UDPAddr).AddrPort()

	// A plain node on its own socket talks to it.
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	other, err := dht.New(dht.Config{Send: dht.UDPSender(c)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go other.Serve(ctx, c)
	if err := other.Bootstrap(ctx, []netip.AddrPort{shared}); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Announce(ctx, ih, 0); err != nil { // implied port: the shared one
		t.Fatal(err)
	}
	peers, err := other.GetPeers(ctx, ih)
	if err != nil || !slices.Contains(peers, shared) {
		t.Fatalf("peers %v (%v), want the shared port %v", peers, err, shared)
	}
	if sock.Stats().Unhandled == 0 {
		t.Fatal("no datagram went through the uTP socket's hook")
	}
}
