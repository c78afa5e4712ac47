package conformance

// Conformance of the wire package with real peers over loopback TCP: libtorrent 2.0.8
// and Transmission 3.00, each in both directions. Our side is built from wire alone
// (no peer session): it proves the handshake (and the listener's split form), the BEP
// 3/6 messages, the BEP 10 extended handshake and BEP 9 ut_metadata as these clients
// write and read them.
//
// Needs python3-libtorrent and transmission-cli; run inside a private netns:
//   go test -c -o /tmp/conf.test ./conformance/ &&
//   unshare -n sh -c 'ip link set lo up && exec /tmp/conf.test -test.run "TestWire(Libtorrent|Transmission)" -test.v'

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/bencode"
)

const (
	wireLTFileSize = 300<<10 + 123 // five 64 KiB pieces, the last one short
	wireLTPieceLen = 64 << 10
	wireLTBlock    = 16 << 10
	wireLTTimeout  = 60 * time.Second
	// Our ut_metadata id: what we ask libtorrent to use when it sends to us.
	wireLTOurMetadataID = 3
)

// wireLTTorrent is a v1 single-file torrent that libtorrent made over generated data.
type wireLTTorrent struct {
	root, torrentPath string
	data, info        []byte
	infoHash          [20]byte
	pieces            []byte // concatenated SHA-1s
}

func wireLTSetup(t *testing.T) wireLTTorrent {
	t.Helper()
	testutil.NeedLibtorrent(t)
	root := thirdparty.WriteFiles(t, t.TempDir(), []thirdparty.File{{Path: "payload.bin", Size: wireLTFileSize}})
	tor := thirdparty.LibtorrentCreateTorrent(t, filepath.Join(root, "payload.bin"), wireLTPieceLen, true, nil)
	var meta struct {
		Info bencode.RawMessage `bencode:"info"`
	}
	if err := bencode.Unmarshal(tor, &meta); err != nil {
		t.Fatal(err)
	}
	var info struct {
		Pieces []byte `bencode:"pieces"`
	}
	if err := bencode.Unmarshal(meta.Info, &info); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "payload.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return wireLTTorrent{root: root, torrentPath: thirdparty.WriteTorrent(t, tor), data: data, info: meta.Info,
		infoHash: sha1.Sum(meta.Info), pieces: info.Pieces}
}

func (w wireLTTorrent) numPieces() int { return (len(w.data) + wireLTPieceLen - 1) / wireLTPieceLen }

func (w wireLTTorrent) pieceLen(i int) int { return min(wireLTPieceLen, len(w.data)-i*wireLTPieceLen) }

func wireLTHandshake(infoHash [20]byte, id string) wire.Handshake {
	var r wire.Reserved
	r.SetExtended(true)
	r.SetFast(true)
	return wire.Handshake{Reserved: r, InfoHash: infoHash, PeerID: [20]byte([]byte(id))}
}

// TestWireLibtorrentDownload: we dial a libtorrent seed, fetch the info dictionary with
// ut_metadata and every block with request/piece, and check both against the hashes.
func TestWireLibtorrentDownload(t *testing.T) {
	tor := wireLTSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), wireLTTimeout)
	defer cancel()
	port := testutil.FreePort(t, "127.0.0.2")
	capture := wireStartCapture(t, ctx, "127.0.0.2", port)
	seed := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:  testutil.Addr("127.0.0.2", port),
		Torrent: tor.torrentPath, SavePath: tor.root, Seed: true, TCP: true,
	})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	conn := wireDownload(t, ctx, seed.Addr(), tor)
	defer conn.Close()
	defer wireCheckCapture(t, capture, seed.Port())
	// A keep-alive and a have are accepted: libtorrent keeps the connection.
	if _, err := conn.Write(wire.AppendMessage(wire.AppendMessage(nil, wire.Message{Type: wire.KeepAlive}), wire.Message{Type: wire.NotInterested})); err != nil {
		t.Fatal(err)
	}
	if st := seed.Status(); st.NumPeers != 1 || st.TotalPayloadUp < int64(len(tor.data)) {
		t.Errorf("libtorrent status: %d peers, %d payload bytes up", st.NumPeers, st.TotalPayloadUp)
	}
	if errs := seed.Errors(); len(errs) > 0 {
		t.Errorf("libtorrent reported errors: %v", errs)
	}
}

// TestWireLibtorrentUpload: a libtorrent leecher dials us; we answer with the split
// handshake (head, answer, then peer id), have_all and unchoke, serve every request
// with header + block writes and ut_metadata requests with data, until libtorrent
// reports the download finished and verified.
func TestWireLibtorrentUpload(t *testing.T) {
	tor := wireLTSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), wireLTTimeout)
	defer cancel()
	// Capture first (its probes are refused), then listen on the port.
	port := testutil.FreePort(t, "127.0.0.4")
	capture := wireStartCapture(t, ctx, "127.0.0.4", port)
	ln, err := net.Listen("tcp", testutil.Addr("127.0.0.4", port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	served := make(chan error, 1)
	go func() { served <- wireLTServe(ctx, ln, tor) }()

	leech := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:  testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
		Torrent: tor.torrentPath, SavePath: t.TempDir(), TCP: true, Peers: []string{ln.Addr().String()},
	})
	start := time.Now()
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatalf("libtorrent did not finish: %v", err)
	}
	t.Logf("libtorrent finished %v after it started", time.Since(start))
	st := leech.Status()
	if st.Progress != 1 || st.TotalWantedDone != int64(len(tor.data)) {
		t.Errorf("libtorrent status: progress %v, %d of %d bytes", st.Progress, st.TotalWantedDone, len(tor.data))
	}
	if errs := leech.Errors(); len(errs) > 0 {
		t.Errorf("libtorrent reported errors: %v", errs)
	}
	ln.Close()
	leech.Stop()
	t.Logf("libtorrent stopped %v after it started", time.Since(start))
	if err := <-served; err != nil {
		t.Errorf("serving libtorrent: %v", err)
	}
	wireCheckCapture(t, capture, port)
}

// wireCapture is a tshark capture of one TCP port on loopback.
type wireCapture struct {
	cmd  *exec.Cmd
	path string
}

// wireStartCapture starts capturing TCP port on loopback and returns once a probe
// connection to ip:port has reached the capture file: tshark says it is capturing a
// moment before packets actually reach the file, and the first messages of a
// connection are the ones that matter most here.
func wireStartCapture(t *testing.T, ctx context.Context, ip string, port int) *wireCapture {
	t.Helper()
	tshark := testutil.NeedTool(t, "tshark")
	c := &wireCapture{path: filepath.Join(t.TempDir(), "live.pcap")}
	c.cmd = exec.CommandContext(ctx, tshark, "-i", "lo", "-f", fmt.Sprintf("tcp port %d", port), "-F", "pcap", "-w", c.path, "-q")
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.stop() })
	for {
		// A refused connection (SYN, RST) is captured as well as an accepted one.
		if conn, err := net.DialTimeout("tcp", testutil.Addr(ip, port), time.Second); err == nil {
			conn.Close()
		}
		if fi, err := os.Stat(c.path); err == nil && fi.Size() > 24 { // more than the pcap file header
			return c
		}
		select {
		case <-ctx.Done():
			t.Fatalf("capture on port %d never saw a packet", port)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the capture (tshark writes out what it has on SIGINT) and returns the file.
func (c *wireCapture) stop() string {
	if c.cmd.ProcessState == nil {
		time.Sleep(300 * time.Millisecond) // let frames already delivered reach the file
		c.cmd.Process.Signal(os.Interrupt)
		c.cmd.Wait()
	}
	return c.path
}

// wireCheckCapture stops a capture of one peer connection on port and requires tshark
// to decode it as BitTorrent with no malformed frame and no expert error.
func wireCheckCapture(t *testing.T, c *wireCapture, port int) {
	t.Helper()
	rep := thirdparty.CheckPcap(t, c.stop(), fmt.Sprintf("tcp.port==%d,bittorrent", port))
	t.Logf("tshark on the live connection: %s", rep)
	// Both extended handshakes (the only bencode tshark decodes here) prove that the
	// capture holds the start of the connection.
	rep.Expect(t, "bittorrent", "bencode")
	for _, e := range rep.Experts {
		if e.Severity == "error" {
			t.Errorf("tshark expert error: frame %d %s: %s", e.Frame, e.Group, e.Message)
		}
	}
}

// wireDownload dials a seed of tor at addr, fetches the info dictionary with
// ut_metadata and every block with request/piece, checks both against the hashes, and
// returns the connection, still open.
func wireDownload(t *testing.T, ctx context.Context, addr string, tor wireLTTorrent) net.Conn {
	t.Helper()
	conn, hs, err := wireDialRetry(ctx, addr, tor.infoHash)
	if err != nil {
		t.Fatalf("handshake with %s: %v", addr, err)
	}
	if hs.InfoHash != tor.infoHash || !hs.Reserved.SupportsExtended() || !hs.Reserved.SupportsFast() {
		t.Fatalf("the seed's handshake: info-hash %x, reserved %x", hs.InfoHash, hs.Reserved)
	}
	t.Logf("peer id %q, reserved %x", hs.PeerID, hs.Reserved)

	var out []byte
	out = wire.AppendMessage(out, wire.Message{Type: wire.Extended, ExtID: wire.ExtHandshakeID,
		Payload: wire.AppendExtendedHandshake(nil, wire.ExtendedHandshake{
			M: map[string]int{wire.ExtMetadata: wireLTOurMetadataID}, V: "btt-wire-test", Reqq: 250,
		})})
	out = wire.AppendMessage(out, wire.Message{Type: wire.HaveNone})
	out = wire.AppendMessage(out, wire.Message{Type: wire.Interested})
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}

	r := wire.NewReader(conn, 0)
	var (
		ext          wire.ExtendedHandshake
		gotExt       bool
		haveAll      bool
		has          = make([]bool, tor.numPieces())
		unchoked     bool
		metadata     = make([]byte, len(tor.info))
		metaPieces   = wire.MetadataPieces(len(tor.info))
		metaGot      int
		requested    bool
		blocksLeft   int
		data         = make([]byte, len(tor.data))
		seenMessages = map[wire.MessageType]int{}
	)
	for metaGot < metaPieces || !requested || blocksLeft > 0 {
		m, err := r.ReadHeader()
		if err != nil {
			t.Fatalf("reading from the seed: %v (seen %v)", err, seenMessages)
		}
		seenMessages[m.Type]++
		switch m.Type {
		case wire.Extended:
			switch m.ExtID {
			case wire.ExtHandshakeID:
				if ext, err = wire.ParseExtendedHandshake(m.Payload); err != nil {
					t.Fatal(err)
				}
				gotExt = true
				if ext.MetadataSize != len(tor.info) || ext.M[wire.ExtMetadata] == 0 || ext.Reqq == 0 {
					t.Fatalf("the seed's extended handshake: %+v", ext)
				}
				// Ask for every metadata piece under the id libtorrent chose.
				var req []byte
				for i := range metaPieces {
					req = wire.AppendMessage(req, wire.Message{Type: wire.Extended, ExtID: uint8(ext.M[wire.ExtMetadata]),
						Payload: wire.AppendMetadataMessage(nil, wire.MetadataMessage{Type: wire.MetadataRequest, Piece: i})})
				}
				if _, err := conn.Write(req); err != nil {
					t.Fatal(err)
				}
			case wireLTOurMetadataID:
				md, err := wire.ParseMetadataMessage(m.Payload)
				if err != nil {
					t.Fatal(err)
				}
				if md.Type != wire.MetadataData || md.TotalSize != len(tor.info) {
					t.Fatalf("ut_metadata reply %v total %d", md.Type, md.TotalSize)
				}
				copy(metadata[md.Piece*wire.MetadataPieceLen:], md.Data)
				metaGot++
			}
		case wire.HaveAll:
			haveAll = true
		case wire.Bitfield:
			for i := range tor.numPieces() {
				has[i] = m.Payload[i/8]&(0x80>>(i%8)) != 0
			}
			haveAll = !slices.Contains(has, false)
		case wire.Have:
			// A seed still checking its data when we connect announces pieces as it goes.
			has[m.Index] = true
			haveAll = !slices.Contains(has, false)
		case wire.Unchoke:
			unchoked = true
		case wire.Piece:
			if m.Begin%wireLTBlock != 0 || int(m.Index) >= tor.numPieces() {
				t.Fatalf("unexpected block %d/%d", m.Index, m.Begin)
			}
			off := int(m.Index)*wireLTPieceLen + int(m.Begin)
			if err := r.ReadPayload(data[off : off+int(m.Length)]); err != nil {
				t.Fatal(err)
			}
			blocksLeft--
		case wire.Reject:
			t.Fatalf("the seed rejected %d/%d/%d", m.Index, m.Begin, m.Length)
		}
		if gotExt && haveAll && unchoked && !requested {
			requested = true
			var req []byte
			for i := range tor.numPieces() {
				for b := 0; b < tor.pieceLen(i); b += wireLTBlock {
					req = wire.AppendMessage(req, wire.Message{Type: wire.Request, Index: uint32(i), Begin: uint32(b),
						Length: uint32(min(wireLTBlock, tor.pieceLen(i)-b))})
					blocksLeft++
				}
			}
			if _, err := conn.Write(req); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("messages from the seed: %v", seenMessages)
	if sha1.Sum(metadata) != tor.infoHash {
		t.Error("metadata fetched with ut_metadata does not hash to the info-hash")
	}
	for i := range tor.numPieces() {
		p := data[i*wireLTPieceLen : i*wireLTPieceLen+tor.pieceLen(i)]
		if h := sha1.Sum(p); !bytes.Equal(h[:], tor.pieces[20*i:20*i+20]) {
			t.Errorf("piece %d fails its hash", i)
		}
	}
	if !bytes.Equal(data, tor.data) {
		t.Error("downloaded data differs")
	}
	return conn
}

// TestWireTransmissionDownload: the same download from a Transmission 3.00 seed.
func TestWireTransmissionDownload(t *testing.T) {
	tor := wireLTSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), wireLTTimeout)
	defer cancel()
	addr := testutil.Addr("127.0.0.5", testutil.FreePort(t, "127.0.0.5"))
	seed := thirdparty.StartTransmission(t, thirdparty.TransmissionConfig{
		Listen: addr, Torrent: tor.torrentPath, Dir: tor.root, Verify: true,
	})
	defer seed.Stop()
	conn := wireDownload(t, ctx, addr, tor)
	conn.Close()
}

// TestWireTransmissionUpload: our wire-only seed dials a Transmission leecher (it
// cannot be told to dial) and serves it the whole torrent.
func TestWireTransmissionUpload(t *testing.T) {
	tor := wireLTSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), wireLTTimeout)
	defer cancel()
	leech := thirdparty.StartTransmission(t, thirdparty.TransmissionConfig{
		Listen: testutil.Addr("127.0.0.6", testutil.FreePort(t, "127.0.0.6")), Torrent: tor.torrentPath,
	})
	defer leech.Stop()

	served := make(chan error, 1)
	var conn net.Conn
	for {
		var err error
		var hs wire.Handshake
		if conn, hs, err = wireDial(ctx, leech.Addr(), tor.infoHash); err == nil {
			if !hs.Reserved.SupportsExtended() || !hs.Reserved.SupportsFast() {
				t.Fatalf("Transmission's reserved bytes %x", hs.Reserved)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("handshake with Transmission: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	defer conn.Close()
	go func() {
		if _, err := conn.Write(wireSeedGreeting(nil, tor)); err != nil {
			served <- err
			return
		}
		served <- wireServeConn(conn, tor)
	}()
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatalf("Transmission did not finish: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(leech.Dir(), "payload.bin"))
	if err != nil || !bytes.Equal(got, tor.data) {
		t.Errorf("Transmission's copy: %d bytes, err %v; equal %v", len(got), err, bytes.Equal(got, tor.data))
	}
	conn.Close()
	if err := <-served; err != nil {
		t.Errorf("serving Transmission: %v", err)
	}
}

// wireDial connects to addr and exchanges handshakes.
func wireDial(ctx context.Context, addr string, infoHash [20]byte) (net.Conn, wire.Handshake, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, wire.Handshake{}, err
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	if err := wire.WriteHandshake(conn, wireLTHandshake(infoHash, "-BT0001-wiretest0001")); err != nil {
		conn.Close()
		return nil, wire.Handshake{}, err
	}
	hs, err := wire.ReadHandshake(conn)
	if err != nil {
		conn.Close()
		return nil, wire.Handshake{}, err
	}
	return conn, hs, nil
}

// wireDialRetry is wireDial until the seed answers or ctx ends: a seed still checking its
// data (Transmission with -v) hangs up on connections for the torrent.
func wireDialRetry(ctx context.Context, addr string, infoHash [20]byte) (net.Conn, wire.Handshake, error) {
	for {
		conn, hs, err := wireDial(ctx, addr, infoHash)
		if err == nil || ctx.Err() != nil {
			return conn, hs, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// wireLTServe accepts one connection and serves tor on it until the peer goes away.
// It answers with the listener's split handshake: head, our handshake, then peer id.
func wireLTServe(ctx context.Context, ln net.Listener, tor wireLTTorrent) error {
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)

	head, err := wire.ReadHandshakeHead(conn)
	if err != nil {
		return err
	}
	if head.InfoHash != tor.infoHash {
		return errors.New("the peer asked for another torrent")
	}
	if !head.Reserved.SupportsExtended() || !head.Reserved.SupportsFast() {
		return errors.New("the peer's handshake lacks the extension or fast bit")
	}
	out := wire.AppendHandshake(nil, wireLTHandshake(tor.infoHash, "-BT0001-wireseed0001"))
	out = wireSeedGreeting(out, tor)
	if _, err := conn.Write(out); err != nil {
		return err
	}
	if _, err := wire.ReadPeerID(conn); err != nil {
		return err
	}
	return wireServeConn(conn, tor)
}

// wireSeedGreeting appends what a seed sends after its handshake.
func wireSeedGreeting(out []byte, tor wireLTTorrent) []byte {
	out = wire.AppendMessage(out, wire.Message{Type: wire.Extended, ExtID: wire.ExtHandshakeID,
		Payload: wire.AppendExtendedHandshake(nil, wire.ExtendedHandshake{
			M: map[string]int{wire.ExtMetadata: wireLTOurMetadataID}, V: "btt-wire-test", Reqq: 250, MetadataSize: len(tor.info),
		})})
	out = wire.AppendMessage(out, wire.Message{Type: wire.HaveAll})
	return wire.AppendMessage(out, wire.Message{Type: wire.Unchoke})
}

// wireServeConn answers requests and ut_metadata requests for tor until the peer hangs up.
func wireServeConn(conn net.Conn, tor wireLTTorrent) error {
	r := wire.NewReader(conn, 0)
	theirMetadataID := 0
	buf := make([]byte, 0, 64<<10)
	for {
		m, err := r.ReadMessage()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isConnReset(err) {
				return nil // the peer finished and hung up
			}
			return err
		}
		buf = buf[:0]
		switch m.Type {
		case wire.Extended:
			switch m.ExtID {
			case wire.ExtHandshakeID:
				h, err := wire.ParseExtendedHandshake(m.Payload)
				if err != nil {
					return err
				}
				theirMetadataID = h.M[wire.ExtMetadata]
			case wireLTOurMetadataID:
				md, err := wire.ParseMetadataMessage(m.Payload)
				if err != nil {
					return err
				}
				if md.Type != wire.MetadataRequest || theirMetadataID == 0 {
					continue
				}
				size, ok := wire.MetadataPieceSize(len(tor.info), md.Piece)
				if !ok {
					return errors.New("ut_metadata request for a piece that does not exist")
				}
				start := md.Piece * wire.MetadataPieceLen
				buf = wire.AppendMessage(buf, wire.Message{Type: wire.Extended, ExtID: uint8(theirMetadataID),
					Payload: wire.AppendMetadataMessage(nil, wire.MetadataMessage{Type: wire.MetadataData, Piece: md.Piece,
						TotalSize: len(tor.info), Data: tor.info[start : start+size]})})
			}
		case wire.Request:
			i, b, n := int(m.Index), int(m.Begin), int(m.Length)
			if i >= tor.numPieces() || n == 0 || b+n > tor.pieceLen(i) {
				buf = wire.AppendMessage(buf, wire.Message{Type: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
				break
			}
			off := i*wireLTPieceLen + b
			// Header then block, the way a sendfile-based writer sends it.
			buf = wire.AppendPieceHeader(buf, m.Index, m.Begin, n)
			buf = append(buf, tor.data[off:off+n]...)
		}
		if len(buf) > 0 {
			if _, err := conn.Write(buf); err != nil {
				return err
			}
		}
	}
}

func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}
