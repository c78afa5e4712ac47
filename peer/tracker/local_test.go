package tracker

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// TestLocalAddrBinding: with LocalAddr set, HTTP and UDP announces leave from that address,
// so a tracker lists the client where it listens (libtorrent's outgoing_interfaces).
func TestLocalAddrBinding(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.9")
	c := &Client{LocalAddr: local, UDPTimeout: 50 * time.Millisecond, UDPRetries: 1}

	from := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from <- r.RemoteAddr
		w.Write([]byte("d8:intervali60e5:peers0:e"))
	}))
	defer srv.Close()
	if _, err := c.Announce(context.Background(), srv.URL+"/announce", wiretracker.AnnounceRequest{Port: 1}); err != nil {
		t.Fatal(err)
	}
	if ap := netip.MustParseAddrPort(<-from); ap.Addr() != local {
		t.Errorf("HTTP announce came from %v, want %v", ap, local)
	}

	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	got := make(chan netip.AddrPort, 1)
	go func() {
		buf := make([]byte, 2048)
		if _, src, err := uc.ReadFromUDPAddrPort(buf); err == nil {
			got <- src
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c.Announce(ctx, "udp://"+uc.LocalAddr().String()+"/announce", wiretracker.AnnounceRequest{Port: 1}) // nobody answers
	select {
	case src := <-got:
		if src.Addr().Unmap() != local {
			t.Errorf("UDP connect came from %v, want %v", src, local)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no UDP packet reached the tracker")
	}

	// Without LocalAddr the kernel picks the source (127.0.0.1 towards 127.0.0.1).
	plain := &Client{}
	if _, err := plain.Announce(context.Background(), srv.URL+"/announce", wiretracker.AnnounceRequest{Port: 1}); err != nil {
		t.Fatal(err)
	}
	if ap := netip.MustParseAddrPort(<-from); ap.Addr() == local {
		t.Error("an unbound client announced from the bound address")
	}
}
