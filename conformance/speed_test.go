package conformance

// Conformance of the Speed extension (docs/bep-speed.md) with real clients: a peer that
// advertises bt_speed in its BEP 10 handshake is served by libtorrent 2.0.8 and
// Transmission 3.00 exactly as any other peer (legacy peers see nothing new), our
// detection classifies them as legacy, and tshark decodes a session carrying every
// Speed message as well-formed BitTorrent.
//
// Needs python3-libtorrent, transmission-cli and tshark; run inside a private netns:
//   go test -c -o /tmp/conf.test ./conformance/ &&
//   unshare -n sh -c 'ip link set lo up && exec /tmp/conf.test -test.run "TestSpeed" -test.v'

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/bencode"
)

// The torrent (wireLTSetup), the dialing (wireDial) and the timeouts are those of the
// wire conformance tests in this package.

const speedOurExtID = 3 // the id we ask peers to send bt_speed messages under

// speedHandshake is our extended handshake: a Speed peer (bt_speed, bt_speed_v).
func speedHandshake() []byte {
	return wire.AppendExtendedHandshake(nil, wire.ExtendedHandshake{
		M: map[string]int{wire.SpeedExtName: speedOurExtID}, V: "btt-speed-test", Reqq: 250,
		Extra: map[string]bencode.RawMessage{wire.SpeedVersionKey: wire.SpeedVersionValue()},
	})
}

// errSpeedNoSeed: the seed never completed a handshake with us.
var errSpeedNoSeed = errors.New("seed never answered")

// speedDownload dials a seed while advertising Speed, downloads the whole torrent and
// returns the seed's extended handshake.
func speedDownload(ctx context.Context, addr string, tor wireLTTorrent) (wire.ExtendedHandshake, error) {
	var ext wire.ExtendedHandshake
	conn, _, err := wireDialRetry(ctx, addr, tor.infoHash)
	if err != nil {
		return ext, fmt.Errorf("%w: handshake with %s: %w", errSpeedNoSeed, addr, err)
	}
	defer conn.Close()
	var out []byte
	out = wire.AppendMessage(out, wire.Message{Type: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: speedHandshake()})
	out = wire.AppendMessage(out, wire.Message{Type: wire.Interested})
	if _, err := conn.Write(out); err != nil {
		return ext, err
	}
	data := make([]byte, len(tor.data))
	left := 0
	requested, gotExt := false, false
	r := wire.NewReader(conn, 0)
	for !requested || left > 0 || !gotExt {
		m, err := r.ReadHeader()
		if err != nil {
			return ext, fmt.Errorf("reading from the seed: %w", err)
		}
		switch m.Type {
		case wire.Extended:
			if m.ExtID == speedOurExtID {
				return ext, errors.New("a legacy peer sent a bt_speed message")
			}
			if m.ExtID == wire.ExtHandshakeID {
				if ext, err = wire.ParseExtendedHandshake(m.Payload); err != nil {
					return ext, err
				}
				gotExt = true
			}
		case wire.Unchoke:
			if requested {
				continue
			}
			requested = true
			var req []byte
			for i := range tor.numPieces() {
				plen := tor.pieceLen(i)
				for b := 0; b < plen; b += wireLTBlock {
					req = wire.AppendMessage(req, wire.Message{Type: wire.Request, Index: uint32(i), Begin: uint32(b),
						Length: uint32(min(wireLTBlock, plen-b))})
					left++
				}
			}
			if _, err := conn.Write(req); err != nil {
				return ext, err
			}
		case wire.Piece:
			off := int(m.Index)*wireLTPieceLen + int(m.Begin)
			if off+int(m.Length) > len(data) {
				return ext, fmt.Errorf("block %d/%d out of range", m.Index, m.Begin)
			}
			if err := r.ReadPayload(data[off : off+int(m.Length)]); err != nil {
				return ext, err
			}
			left--
		case wire.Choke:
			return ext, errors.New("the seed choked us mid-download")
		}
	}
	if !bytes.Equal(data, tor.data) {
		return ext, errors.New("downloaded data differs")
	}
	return ext, nil
}

// TestSpeedLegacyLibtorrent: libtorrent serves a Speed-advertising peer the whole torrent
// and reports no error; our detection finds no Speed in its handshake.
func TestSpeedLegacyLibtorrent(t *testing.T) {
	tor := wireLTSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), wireLTTimeout)
	defer cancel()
	seed := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:  testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: tor.torrentPath, SavePath: tor.root, Seed: true, TCP: true,
	})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	ext, err := speedDownload(ctx, seed.Addr(), tor)
	if err != nil {
		t.Fatal(err)
	}
	if id, v, ok := wire.SpeedAdvertised(ext.M, ext.Extra); ok {
		t.Errorf("libtorrent classified as a Speed peer (id %d, version %d)", id, v)
	}
	if errs := seed.Errors(); len(errs) > 0 {
		t.Errorf("libtorrent reported errors: %v", errs)
	}
	if st := seed.Status(); st.TotalPayloadUp < int64(len(tor.data)) {
		t.Errorf("libtorrent sent %d payload bytes, want %d", st.TotalPayloadUp, len(tor.data))
	}
}

// TestSpeedLegacyTransmission: the same with a Transmission 3.00 seed.
func TestSpeedLegacyTransmission(t *testing.T) {
	tor := wireLTSetup(t)
	// transmission-cli was seen here, about one run in three, shutting down cleanly right
	// after its verification, before accepting any peer: that is not what this test is
	// about, so a seed that never answered is replaced once.
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), wireLTTimeout/2)
		addr := testutil.Addr("127.0.0.5", testutil.FreePort(t, "127.0.0.5"))
		seed := thirdparty.StartTransmission(t, thirdparty.TransmissionConfig{
			Listen: addr, Torrent: tor.torrentPath, Dir: tor.root, Verify: true,
		})
		ext, err := speedDownload(ctx, addr, tor)
		seed.Stop()
		cancel()
		if errors.Is(err, errSpeedNoSeed) && attempt == 1 {
			t.Logf("attempt %d: %v; starting a fresh Transmission", attempt, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := wire.SpeedAdvertised(ext.M, ext.Extra); ok {
			t.Error("Transmission classified as a Speed peer")
		}
		return
	}
}

// TestSpeedTshark: two Speed peers exchange handshakes and every worked example of the
// BEP draft over loopback TCP; tshark's BitTorrent dissector finds no malformed frame,
// and each side decodes exactly what the other sent.
func TestSpeedTshark(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.6:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	capture := thirdparty.StartCapture(t, "lo", fmt.Sprintf("tcp port %d", port))
	// StartCapture returns when dumpcap prints "Capturing on", but here (a session of a
	// few milliseconds) packets sent right after were seen missing from the capture: give
	// the filter time to attach. Not a timing assertion, only a start-up allowance.
	time.Sleep(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), wireLTTimeout)
	defer cancel()

	msgs := speedExampleMessages(t)
	var infoHash [20]byte
	copy(infoHash[:], "speed-tshark-torrent")
	got := make(chan []wire.SpeedMessage, 1)
	errc := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer conn.Close()
		deadline, _ := ctx.Deadline()
		conn.SetDeadline(deadline)
		if _, err := wire.ReadHandshake(conn); err != nil {
			errc <- err
			return
		}
		var res wire.Reserved
		res.SetExtended(true)
		if err := wire.WriteHandshake(conn, wire.Handshake{Reserved: res, InfoHash: infoHash}); err != nil {
			errc <- err
			return
		}
		if _, err := conn.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: speedHandshake()})); err != nil {
			errc <- err
			return
		}
		r := wire.NewReader(conn, 0)
		var recv []wire.SpeedMessage
		for len(recv) < len(msgs) {
			m, err := r.ReadMessage()
			if err != nil {
				errc <- err
				return
			}
			if m.Type != wire.Extended || m.ExtID != speedOurExtID {
				continue
			}
			sm, err := wire.ParseSpeedMessage(m.Payload)
			if err != nil {
				errc <- err
				return
			}
			recv = append(recv, sm)
		}
		got <- recv
	}()

	conn, _, err := wireDial(ctx, ln.Addr().String(), infoHash)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	out := wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: speedHandshake()})
	r := wire.NewReader(conn, 0)
	m, err := r.ReadMessage()
	if err != nil || m.Type != wire.Extended || m.ExtID != wire.ExtHandshakeID {
		t.Fatalf("peer's extended handshake: %+v, %v", m, err)
	}
	ext, err := wire.ParseExtendedHandshake(m.Payload)
	if err != nil {
		t.Fatal(err)
	}
	id, _, ok := wire.SpeedAdvertised(ext.M, ext.Extra)
	if !ok {
		t.Fatalf("our own handshake is not detected as Speed: %+v", ext)
	}
	for _, sm := range msgs {
		p, err := wire.AppendSpeedMessage(nil, sm)
		if err != nil {
			t.Fatal(err)
		}
		out = wire.AppendMessage(out, wire.Message{Type: wire.Extended, ExtID: uint8(id), Payload: p})
	}
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	select {
	case recv := <-got:
		for i := range msgs {
			if recv[i] != msgs[i] {
				t.Errorf("message %d: sent %+v, received %+v", i, msgs[i], recv[i])
			}
		}
	case err := <-errc:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	conn.Close()
	rep := thirdparty.CheckPcap(t, capture.Stop(), fmt.Sprintf("tcp.port==%d,bittorrent", port))
	rep.Expect(t, "bittorrent")
	t.Logf("tshark: %s", rep)
}

// speedExampleMessages decodes the worked examples of docs/bep-speed.md.
func speedExampleMessages(t *testing.T) []wire.SpeedMessage {
	t.Helper()
	payloads := []string{
		"64383a6d73675f74797065693065353a707269636569323530303030306565",
		"64333a6b657933333a02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5363a6c656467657232313a687474703a2f2f3132372e302e302e313a37303730383a6d73675f74797065693165353a707269636569323030303030306565",
		"64353a6368756e6b693265383a6d73675f74797065693265353a7069656365693765353a70726963656931303030303065343a73616c7431363a000102030405060708090a0b0c0d0e0f65",
		"64353a6368756e6b693265383a6d73675f74797065693365353a7069656365693765353a70726f6f6633323af16050de428a725070fcf8723473b7685a34ffc5e3111957be010cbdd0e9f188343a73616c7431363a000102030405060708090a0b0c0d0e0f65",
		"64373a6368616e6e656c33323adff5b52d16eb9a4e74970736df7d2032bc57413fd6c6758c7617a810088b92f5383a6d73675f7479706569346565",
		"64383a6d73675f74797065693565333a73696736343a03ad805b188e1a69e130e14a4e7b0ec22137803db5842255c8d2d4347d1a9de841d46d19a0670850792e436df38f062640b07c3f02a485cc65ad08dbc34543b3373a766f756368657236383a737065656462742e766f7563682e7631dff5b52d16eb9a4e74970736df7d2032bc57413fd6c6758c7617a810088b92f5000000000000000100000000000001e80000000765",
		"64373a6368616e6e656c33323adff5b52d16eb9a4e74970736df7d2032bc57413fd6c6758c7617a810088b92f5383a6d73675f74797065693665333a73657169316565",
		"64373a6368616e6e656c33323adff5b52d16eb9a4e74970736df7d2032bc57413fd6c6758c7617a810088b92f5383a6d73675f74797065693765363a726561736f6e693565333a73657169326565",
	}
	var out []wire.SpeedMessage
	for _, h := range payloads {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		m, err := wire.ParseSpeedMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}
