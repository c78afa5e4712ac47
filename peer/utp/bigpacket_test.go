package utp

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// mssOf reads a connection's payload size.
func mssOf(c net.Conn) int {
	uc := c.(*Conn)
	uc.mu.Lock()
	defer uc.mu.Unlock()
	return uc.mss
}

// accept takes the next connection from s, bounded in time.
func acceptWithin(t *testing.T, s *Socket, d time.Duration) net.Conn {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := s.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.c
	case <-time.After(d):
		t.Fatal("no connection accepted")
		return nil
	}
}

// Two of our sockets on loopback negotiate big packets, each side sending at most its
// own LocalPacketSize; with the knob off on either side both keep PacketSize.
func TestPacketSizeNegotiation(t *testing.T) {
	tests := []struct {
		name           string
		client, server Config
		wantC, wantS   int // payload per packet each side sends
	}{
		{"defaults", Config{}, Config{}, defaultLocalPacketSize, defaultLocalPacketSize},
		{"different caps", Config{LocalPacketSize: 8 << 10}, Config{LocalPacketSize: 32 << 10}, 8 << 10, 32 << 10},
		{"client off", Config{LocalPacketSize: -1}, Config{}, 1400, 1400},
		{"server off", Config{}, Config{LocalPacketSize: -1}, 1400, 1400},
		{"local not bigger", Config{PacketSize: 1200, LocalPacketSize: 1000}, Config{}, 1200, 1400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := listen(t, tt.client), listen(t, tt.server)
			c := dial(t, a, b.Addr().String())
			defer c.Close()
			s := acceptWithin(t, b, 10*time.Second)
			defer s.Close()
			if got := mssOf(c); got != tt.wantC {
				t.Errorf("client sends %d-byte payloads, want %d", got, tt.wantC)
			}
			if got := mssOf(s); got != tt.wantS {
				t.Errorf("server sends %d-byte payloads, want %d", got, tt.wantS)
			}
			// Both directions carry data intact at those sizes.
			data := randomData(7, 300_000)
			go func() {
				_, _ = c.Write(data)
				_, _ = s.Write(data)
			}()
			for _, conn := range []net.Conn{s, c} {
				_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				got := make([]byte, len(data))
				if _, err := io.ReadFull(conn, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatal("data corrupted")
				}
			}
		})
	}
}

func bigDatagramsExt() Extension {
	return Extension{Type: ExtBits, Data: extBitsBigDatagrams[:]}
}

// rawPeer is a plain UDP socket on loopback that speaks uTP by hand.
func rawPeer(t *testing.T) *net.UDPConn {
	t.Helper()
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func readPacket(t *testing.T, u *net.UDPConn, h *Header) (payload []byte, from *net.UDPAddr) {
	t.Helper()
	buf := make([]byte, 65536)
	_ = u.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := u.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	payload, err = h.Decode(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), payload...), from
}

func writePacket(t *testing.T, u *net.UDPConn, h *Header, payload []byte, to net.Addr) {
	t.Helper()
	b, err := h.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.WriteTo(append(b, payload...), to); err != nil {
		t.Fatal(err)
	}
}

// A peer without the extension (libtorrent, libutp) gets PacketSize in both roles: our
// SYN offers big datagrams, its answer does not take them up, and its SYN is answered
// without the extension.
func TestPacketSizePeerWithoutExtension(t *testing.T) {
	t.Run("we dial", func(t *testing.T) {
		a, peer := listen(t, Config{}), rawPeer(t)
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			c, err := a.Dial(peer.LocalAddr().String())
			ch <- res{c, err}
		}()
		var syn Header
		_, from := readPacket(t, peer, &syn)
		if syn.Type != TypeSyn || !syn.BigDatagrams() || syn.Extensions[0].Type != ExtBits {
			t.Fatalf("SYN to a loopback peer: %v with %v, want ST_SYN with the big-datagram bit in ExtBits", syn.Type, syn.Extensions)
		}
		answer := Header{Type: TypeState, ConnID: syn.ConnID, Seq: 500, Ack: syn.Seq, WindowSize: 1 << 20}
		writePacket(t, peer, &answer, nil, from)
		var r res
		select {
		case r = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("dial did not complete")
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.c.Close()
		if got := mssOf(r.c); got != 1400 {
			t.Fatalf("payload %d to a peer that did not answer the extension, want 1400", got)
		}
		if _, err := r.c.Write(make([]byte, 10_000)); err != nil { // less than the send queue: no acks come
			t.Fatal(err)
		}
		var h Header
		payload, _ := readPacket(t, peer, &h)
		if h.Type != TypeData || len(payload) != 1400 || len(h.Extensions) != 0 {
			t.Fatalf("first data packet: %v, %d bytes, %d extensions; want ST_DATA of 1400 without extensions",
				h.Type, len(payload), len(h.Extensions))
		}
	})
	t.Run("they dial", func(t *testing.T) {
		b, peer := listen(t, Config{}), rawPeer(t)
		syn := Header{Type: TypeSyn, ConnID: 1000, Seq: 7}
		writePacket(t, peer, &syn, nil, b.Addr())
		var answer Header
		readPacket(t, peer, &answer)
		if answer.Type != TypeState || len(answer.Extensions) != 0 {
			t.Fatalf("answer to a plain SYN: %v with %d extensions, want ST_STATE without", answer.Type, len(answer.Extensions))
		}
		s := acceptWithin(t, b, 10*time.Second)
		defer s.Close()
		if got := mssOf(s); got != 1400 {
			t.Fatalf("payload %d to a peer whose SYN had no extension, want 1400", got)
		}
	})
}

// A peer advertising big datagrams gets our extension in the answer to its SYN, and a
// datagram as big as UDP allows is read whole through the socket's reader.
func TestPacketSizeLargestDatagram(t *testing.T) {
	b, peer := listen(t, Config{}), rawPeer(t)
	syn := Header{Type: TypeSyn, ConnID: 2000, Seq: 7, Extensions: []Extension{bigDatagramsExt()}}
	writePacket(t, peer, &syn, nil, b.Addr())
	var answer Header
	readPacket(t, peer, &answer)
	if answer.Type != TypeState || !answer.BigDatagrams() || answer.Ack != 7 {
		t.Fatalf("answer: %v with %v acking %d; want ST_STATE with the big-datagram bit acking 7",
			answer.Type, answer.Extensions, answer.Ack)
	}
	s := acceptWithin(t, b, 10*time.Second)
	defer s.Close()
	if got := mssOf(s); got != defaultLocalPacketSize {
		t.Fatalf("payload %d, want %d", got, defaultLocalPacketSize)
	}
	data := randomData(3, maxRecvPayload)
	h := Header{Type: TypeData, ConnID: 2001, Seq: 8, Ack: answer.Seq, WindowSize: 1 << 20}
	writePacket(t, peer, &h, data, b.Addr())
	got := make([]byte, len(data))
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("65487-byte payload corrupted")
	}
}

// Only loopback and this host's own addresses count as local paths; anything else
// keeps PacketSize (no path MTU discovery).
func TestLocalPath(t *testing.T) {
	s := listen(t, Config{})
	for _, a := range []string{"127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"} {
		if !s.localPath(netip.MustParseAddr(a)) {
			t.Errorf("%s is not a local path", a)
		}
	}
	for _, a := range []string{"192.0.2.1", "2001:db8::1", "10.255.255.254"} {
		if s.localPath(netip.MustParseAddr(a)) {
			t.Errorf("%s counted as a local path", a)
		}
	}
	// One of this host's own addresses routes over the loopback device too.
	if ifas, err := net.InterfaceAddrs(); err == nil {
		for _, ifa := range ifas {
			if pn, ok := ifa.(*net.IPNet); ok && !pn.IP.IsLoopback() {
				a, _ := netip.AddrFromSlice(pn.IP)
				if !s.localPath(a.Unmap()) {
					t.Errorf("own address %s is not a local path", a)
				}
			}
		}
	}
	off := listen(t, Config{LocalPacketSize: -1})
	if off.localPath(netip.MustParseAddr("127.0.0.1")) {
		t.Error("LocalPacketSize -1 still allows big packets")
	}
}
