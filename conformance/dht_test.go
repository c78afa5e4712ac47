package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/speedbt/btt/dht"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
)

// dhtNode starts one of our DHT nodes on its own UDP socket at ip.
func dhtNode(t *testing.T, ctx context.Context, ip string) (*dht.Node, netip.AddrPort) {
	t.Helper()
	addr := netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(testutil.FreeUDPPort(t, ip)))
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	n, err := dht.New(dht.Config{Send: dht.UDPSender(c), QueryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go n.Serve(ctx, c)
	t.Cleanup(func() { n.Close(); c.Close() })
	return n, addr
}

// dhtCapture captures UDP on loopback for ports until stop is called; stop then decodes
// the capture with tshark's bt-dht dissector on those ports and fails on any malformed
// frame. It returns how many bt-dht frames each port sent.
func dhtCapture(t *testing.T, ports []uint16) (stop func() map[uint16]int) {
	t.Helper()
	var ps []int
	for _, p := range ports {
		ps = append(ps, int(p))
	}
	c := startUDPCapture(t, "bt-dht", ps)
	return func() map[uint16]int {
		t.Helper()
		c.stop()
		bySrc := map[uint16]int{}
		for _, f := range c.fields("bt-dht", "udp.srcport") {
			var p uint16
			fmt.Sscan(f, &p)
			bySrc[p]++
		}
		t.Logf("capture: %d frames; bt-dht frames by source port: %v", c.frames(), bySrc)
		return bySrc
	}
}

// TestDHTLibtorrent builds a small DHT of three of our nodes and two libtorrent
// sessions on loopback (each on its own 127.0.0.x address). libtorrent announces a
// torrent it seeds and our node finds it with get_peers; our node announces an
// info-hash and libtorrent, given only the magnet link, finds us through the DHT and
// connects to our listener with that info-hash. tshark's bt-dht dissector reads every
// packet to and from our nodes without a malformed frame.
//
// Run inside a private network namespace:
//
//	unshare -n sh -c 'ip link set lo up && exec go test ./conformance/ -run DHT'
func TestDHTLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var nodes []*dht.Node
	var addrs []netip.AddrPort
	var nodeStrs []string
	for i := range 3 {
		n, a := dhtNode(t, ctx, fmt.Sprintf("127.0.0.%d", 21+i))
		nodes, addrs, nodeStrs = append(nodes, n), append(addrs, a), append(nodeStrs, a.String())
	}
	client, clientAddr := dhtNode(t, ctx, "127.0.0.24")
	ports := []uint16{clientAddr.Port()}
	for _, a := range addrs {
		ports = append(ports, a.Port())
	}
	stopCapture := dhtCapture(t, ports)

	for i := 1; i < 3; i++ {
		if err := nodes[i].Bootstrap(ctx, addrs[:i]); err != nil {
			t.Fatalf("bootstrap node %d: %v", i, err)
		}
	}

	// libtorrent seeds a torrent and announces it into our DHT.
	root := thirdparty.WriteFiles(t, t.TempDir(), []thirdparty.File{{Path: "dht.bin", Size: 64 << 10}})
	tor := thirdparty.LibtorrentCreateTorrent(t, filepath.Join(root, "dht.bin"), 16<<10, true, nil)
	ih := dht.ID(thirdparty.InfoHash(t, tor))
	seedAddr := testutil.Addr("127.0.0.31", testutil.FreePort(t, "127.0.0.31"))
	seed := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen: seedAddr, Torrent: thirdparty.WriteTorrent(t, tor), SavePath: root, Seed: true,
		DHT: thirdparty.LTDHT{Enable: true, Nodes: nodeStrs},
	})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	if err := client.Bootstrap(ctx, addrs); err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort(seed.Addr())
	var found []netip.AddrPort
	start := time.Now()
	for !slices.Contains(found, want) {
		if ctx.Err() != nil {
			t.Fatalf("our get_peers never found libtorrent's peer %v (found %v)", want, found)
		}
		lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
		found, _ = client.GetPeers(lctx, ih)
		lcancel()
		if !slices.Contains(found, want) {
			time.Sleep(time.Second)
		}
	}
	t.Logf("our get_peers found libtorrent's seed %v after %v", want, time.Since(start).Round(time.Millisecond))
	for i, n := range nodes {
		t.Logf("our node %d: %+v", i, n.Stats())
	}

	// Our node announces an info-hash; libtorrent finds us with nothing but the magnet.
	var ih2 dht.ID
	rand.Read(ih2[:])
	ln, err := net.Listen("tcp", "127.0.0.24:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	start = time.Now()
	for {
		n, err := client.Announce(ctx, ih2, port)
		if err == nil && n > 0 {
			t.Logf("our announce reached %d nodes", n)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("announce: %v", err)
		}
		time.Sleep(time.Second)
	}
	leechAddr := testutil.Addr("127.0.0.32", testutil.FreePort(t, "127.0.0.32"))
	thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen: leechAddr, Magnet: "magnet:?xt=urn:btih:" + hex.EncodeToString(ih2[:]),
		DHT: thirdparty.LTDHT{Enable: true, Nodes: nodeStrs},
	})
	type hs struct {
		ih   []byte
		from net.Addr
		err  error
	}
	got := make(chan hs, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				got <- hs{err: err}
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 68)
			_, err = io.ReadFull(c, buf)
			c.Close()
			if err == nil && bytes.Equal(buf[:20], []byte("\x13BitTorrent protocol")) {
				got <- hs{ih: buf[28:48], from: c.RemoteAddr()}
				return
			}
		}
	}()
	select {
	case h := <-got:
		if h.err != nil {
			t.Fatal(h.err)
		}
		if !bytes.Equal(h.ih, ih2[:]) {
			t.Fatalf("libtorrent connected for info-hash %x, want %x", h.ih, ih2)
		}
		t.Logf("libtorrent (%v) found our announced peer through the DHT and connected after %v", h.from, time.Since(start).Round(time.Millisecond))
	case <-ctx.Done():
		t.Fatal("libtorrent never connected to the peer we announced")
	}

	// An announce with implied_port (port 0: "use my UDP source port") is accepted by
	// libtorrent too: more than our three nodes take it.
	var ih3 dht.ID
	rand.Read(ih3[:])
	n, err := client.Announce(ctx, ih3, 0)
	if err != nil || n <= 3 {
		t.Errorf("implied_port announce accepted by %d nodes (%v), want ours and libtorrent's", n, err)
	}
	peers, err := nodes[0].GetPeers(ctx, ih3)
	if err != nil || !slices.Contains(peers, clientAddr) {
		t.Errorf("implied_port announce stored as %v (%v), want %v", peers, err, clientAddr)
	}

	bySrc := stopCapture()
	for _, p := range ports {
		if bySrc[p] == 0 {
			t.Errorf("no bt-dht frame from our port %d in the capture", p)
		}
	}
}
