package conformance

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer/utp"
)

// utpPieceLen is the piece length of the interop torrents.
const utpPieceLen = 256 << 10

// utpInteropSize is the payload of the interop transfers: 4 MiB by default,
// BTT_UTP_INTEROP_MIB overrides (the 256 MiB run of the issue is BTT_UTP_INTEROP_MIB=256).
func utpInteropSize(t *testing.T) int64 {
	if s := os.Getenv("BTT_UTP_INTEROP_MIB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("BTT_UTP_INTEROP_MIB=%q", s)
		}
		return int64(n) << 20
	}
	return 4 << 20
}

// utpTorrent writes a single-file payload and its v1 torrent; it returns the data root,
// the file's bytes, the torrent path and the info-hash.
func utpTorrent(t *testing.T, size int64) (root string, data []byte, torPath string, ih [20]byte) {
	t.Helper()
	root = thirdparty.WriteFiles(t, t.TempDir(), []thirdparty.File{{Path: "utp.bin", Size: size}})
	data, err := os.ReadFile(filepath.Join(root, "utp.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tor := thirdparty.LibtorrentCreateTorrent(t, filepath.Join(root, "utp.bin"), utpPieceLen, true, nil)
	return root, data, thirdparty.WriteTorrent(t, tor), thirdparty.InfoHash(t, tor)
}

// utpCapture runs tshark on loopback for the given UDP ports until the returned stop
// function is called; stop then checks with tshark's bt-utp dissector that the capture
// holds uTP frames and not one malformed frame. stop returns the count of bt-utp
// frames by packet type ("0" data ... "4" syn).
func utpCapture(t *testing.T, ports ...int) (stop func() map[string]int) {
	t.Helper()
	c := startUDPCapture(t, "bt-utp", ports)
	return func() map[string]int {
		t.Helper()
		c.stop()
		types := map[string]int{}
		for _, l := range c.fields("bt-utp", "bt-utp.type") {
			types[l]++
		}
		types["sack"] = len(c.fields("bt-utp.extension_bitmask", "frame.number"))
		t.Logf("capture: %d frames, bt-utp frames by type (0 data, 1 fin, 2 state, 3 reset, 4 syn; sack: with a selective ack): %v", c.frames(), types)
		if types["0"] == 0 || types["2"] == 0 || types["4"] == 0 {
			t.Errorf("capture lacks uTP SYN/STATE/DATA frames: %v", types)
		}
		return types
	}
}

// The smallest BitTorrent peer that can move a torrent's bytes: enough to prove the
// transport carries real BitTorrent sessions to and from libtorrent.

func utpHandshake(ih [20]byte) []byte {
	b := append([]byte("\x13BitTorrent protocol"), make([]byte, 8)...)
	b = append(b, ih[:]...)
	return append(b, []byte("-BT0001-utpconform00")...)
}

func utpReadHandshake(r io.Reader, ih [20]byte) error {
	var hs [68]byte
	if _, err := io.ReadFull(r, hs[:]); err != nil {
		return fmt.Errorf("read handshake: %w", err)
	}
	if string(hs[:20]) != "\x13BitTorrent protocol" || !bytes.Equal(hs[28:48], ih[:]) {
		return fmt.Errorf("bad handshake %x", hs[:48])
	}
	return nil
}

// utpReadMsg reads one length-prefixed message (nil for a keep-alive).
func utpReadMsg(r io.Reader, buf []byte) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > uint32(len(buf)) {
		return nil, fmt.Errorf("message of %d bytes", n)
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func utpMsg(id byte, ints ...uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+4*len(ints)))
	b = append(b, id)
	for _, v := range ints {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// utpDownload fetches every block of the torrent from c and returns the bytes.
func utpDownload(c net.Conn, ih [20]byte, size int64) ([]byte, error) {
	if _, err := c.Write(utpHandshake(ih)); err != nil {
		return nil, err
	}
	if err := utpReadHandshake(c, ih); err != nil {
		return nil, err
	}
	if _, err := c.Write(utpMsg(2)); err != nil { // interested
		return nil, err
	}
	const block = 16 << 10
	type req struct{ index, begin, length uint32 }
	var reqs []req
	for off := int64(0); off < size; off += block {
		reqs = append(reqs, req{uint32(off / utpPieceLen), uint32(off % utpPieceLen), uint32(min(block, size-off))})
	}
	out := make([]byte, size)
	buf := make([]byte, block+64<<10)
	unchoked, next, got := false, 0, 0
	for got < len(reqs) {
		m, err := utpReadMsg(c, buf)
		if err != nil {
			return nil, fmt.Errorf("after %d of %d blocks: %w", got, len(reqs), err)
		}
		if len(m) == 0 {
			continue
		}
		switch m[0] {
		case 0: // choke: libtorrent drops queued requests; ask again after the unchoke
			unchoked, next = false, got
		case 1:
			unchoked = true
		case 7:
			if len(m) < 9 {
				return nil, errors.New("short piece message")
			}
			off := int64(binary.BigEndian.Uint32(m[1:]))*utpPieceLen + int64(binary.BigEndian.Uint32(m[5:]))
			if off+int64(len(m)-9) > size {
				return nil, errors.New("piece beyond the end")
			}
			copy(out[off:], m[9:])
			got++
		}
		// Keep 64 requests in flight.
		for unchoked && next < len(reqs) && next-got < 64 {
			r := reqs[next]
			if _, err := c.Write(utpMsg(6, r.index, r.begin, r.length)); err != nil {
				return nil, err
			}
			next++
		}
	}
	return out, nil
}

// utpServe seeds data to c until the peer goes away or ctx ends.
func utpServe(ctx context.Context, c net.Conn, ih [20]byte, data []byte) error {
	go func() { <-ctx.Done(); _ = c.SetDeadline(time.Now()) }()
	if err := utpReadHandshake(c, ih); err != nil {
		return err
	}
	npieces := (len(data) + utpPieceLen - 1) / utpPieceLen
	bf := make([]byte, (npieces+7)/8)
	for i := range npieces {
		bf[i/8] |= 0x80 >> (i % 8)
	}
	msg := utpHandshake(ih)
	msg = binary.BigEndian.AppendUint32(msg, uint32(1+len(bf)))
	msg = append(append(msg, 5), bf...)
	msg = append(msg, utpMsg(1)...) // unchoke
	if _, err := c.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	out := make([]byte, 0, 13+16<<10)
	for {
		m, err := utpReadMsg(c, buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(m) != 13 || m[0] != 6 {
			continue
		}
		off := int64(binary.BigEndian.Uint32(m[1:]))*utpPieceLen + int64(binary.BigEndian.Uint32(m[5:]))
		n := int64(binary.BigEndian.Uint32(m[9:]))
		if n > 128<<10 || off < 0 || off+n > int64(len(data)) {
			return fmt.Errorf("bad request %x", m)
		}
		out = binary.BigEndian.AppendUint32(out[:0], uint32(9+n))
		out = append(out, 7)
		out = append(out, m[1:9]...)
		out = append(out, data[off:off+n]...)
		if _, err := c.Write(out); err != nil {
			return err
		}
	}
}

// TestUTPDialLibtorrent: our uTP dials a libtorrent seeder (uTP only, TCP off) and
// downloads the torrent over a BitTorrent session; bytes identical; tshark finds no
// malformed uTP frame.
func TestUTPDialLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) { utpDialLibtorrent(t, offload) })
	}
}

// utpConfig is the socket configuration of the interop tests. Without offload every
// uTP packet is its own datagram on loopback and tshark checks each one; with it, runs
// of packets are captured as one large datagram (the kernel segments them only on the
// way into libtorrent's socket), so only the bytes are checked.
func utpConfig(offload bool) utp.Config { return utp.Config{NoOffload: !offload} }

func utpDialLibtorrent(t *testing.T, offload bool) {
	size := utpInteropSize(t)
	root, data, torPath, ih := utpTorrent(t, size)
	ltPort := testutil.FreePort(t, "127.0.0.1")
	s, err := utp.Listen("udp", "127.0.0.1:0", utpConfig(offload))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := func() map[string]int { return nil }
	if !offload {
		stop = utpCapture(t, ltPort, s.Addr().(*net.UDPAddr).Port)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{Listen: testutil.Addr("127.0.0.1", ltPort),
		Torrent: torPath, SavePath: root, Seed: true, UTP: true, SocketBuffers: 4 << 20})
	if err := lt.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := s.DialContext(ctx, lt.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	start := time.Now()
	got, err := utpDownload(c, ih, size)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ from the file")
	}
	st := c.(*utp.Conn).Stats()
	t.Logf("libtorrent -> ours over uTP: %d MiB in %v (%.1f MB/s); our conn: %+v", size>>20, el, float64(size)/el.Seconds()/1e6, st)
	peers := lt.Status().Peers
	if len(peers) != 1 || !peers[0].UTP {
		t.Errorf("libtorrent's peer list %+v, want our one uTP connection", peers)
	}
	c.Close()
	// Let the FINs cross before the capture ends: our FIN (no extension) must be in
	// it and decode cleanly. (libtorrent's FIN carries its close-reason extension 3,
	// which tshark shows as plain data.)
	time.Sleep(500 * time.Millisecond)
	if types := stop(); !offload && types["1"] == 0 {
		t.Errorf("capture holds no ST_FIN: %v", types)
	}
}

// TestUTPAcceptLibtorrent: a libtorrent downloader (uTP only) dials our socket, we
// accept and seed; it must finish with the right bytes.
func TestUTPAcceptLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) { utpAcceptLibtorrent(t, offload) })
	}
}

func utpAcceptLibtorrent(t *testing.T, offload bool) {
	size := utpInteropSize(t)
	_, data, torPath, ih := utpTorrent(t, size)
	s, err := utp.Listen("udp", "127.0.0.1:0", utpConfig(offload))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ltPort := testutil.FreePort(t, "127.0.0.1")
	stop := func() map[string]int { return nil }
	if !offload {
		stop = utpCapture(t, ltPort, s.Addr().(*net.UDPAddr).Port)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dl := t.TempDir()
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{Listen: testutil.Addr("127.0.0.1", ltPort),
		Torrent: torPath, SavePath: dl, UTP: true, SocketBuffers: 4 << 20, Peers: []string{s.Addr().String()}})
	c, err := s.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	served := make(chan error, 1)
	sctx, scancel := context.WithCancel(ctx)
	go func() { served <- utpServe(sctx, c, ih, data) }()
	if err := lt.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	scancel()
	if err := <-served; err != nil {
		t.Errorf("serving: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(dl, "utp.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("libtorrent's download differs from our file")
	}
	t.Logf("ours -> libtorrent over uTP: %d MiB in %v (%.1f MB/s); our conn: %+v", size>>20, el, float64(size)/el.Seconds()/1e6, c.(*utp.Conn).Stats())
	stop()
}

// utpDropRelay forwards UDP between one client and server, dropping every nth packet
// from the client, so the server has gaps to selectively acknowledge.
func utpDropRelay(ctx context.Context, t *testing.T, server net.Addr, nth int) (front, back *net.UDPConn) {
	t.Helper()
	var err error
	if front, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if back, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	go func() { <-ctx.Done(); front.Close(); back.Close() }()
	client := make(chan *net.UDPAddr, 1)
	go func() {
		buf := make([]byte, 65536)
		for i := 1; ; i++ {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			select {
			case client <- from:
			default:
			}
			if i%nth != 0 {
				_, _ = back.WriteTo(buf[:n], server)
			}
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		to := <-client
		for {
			n, _, err := back.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = front.WriteToUDP(buf[:n], to)
		}
	}()
	return front, back
}

// TestUTPSelectiveAckCapture: our selective acks (sent when a relay drops packets)
// decode in tshark's bt-utp dissector with no malformed frame.
func TestUTPSelectiveAckCapture(t *testing.T) {
	a, err := utp.Listen("udp", "127.0.0.1:0", utp.Config{NoOffload: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := utp.Listen("udp", "127.0.0.1:0", utp.Config{NoOffload: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stop := utpCapture(t, a.Addr().(*net.UDPAddr).Port, b.Addr().(*net.UDPAddr).Port)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	front, _ := utpDropRelay(ctx, t, b.Addr(), 25)

	data := bytes.Repeat([]byte("selective ack "), 150_000)
	got := make(chan []byte, 1)
	go func() {
		c, err := b.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(50 * time.Second))
		d, _ := io.ReadAll(c)
		got <- d
	}()
	c, err := a.DialContext(ctx, front.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(50 * time.Second))
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	_ = c.(*utp.Conn).CloseWrite()
	if d := <-got; !bytes.Equal(d, data) {
		t.Fatalf("received %d bytes, want %d intact", len(d), len(data))
	}
	st := c.(*utp.Conn).Stats()
	c.Close()
	time.Sleep(300 * time.Millisecond)
	if types := stop(); types["sack"] == 0 {
		t.Errorf("no selective ack in the capture: %v", types)
	}
	t.Logf("sender: %+v", st)
	if st.FastRetransmit == 0 {
		t.Errorf("no fast retransmit with every 25th packet dropped")
	}
}
