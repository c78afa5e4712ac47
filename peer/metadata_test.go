package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/magnet"
	"github.com/speedbt/btt/wire/metainfo"
)

// metadataTorrent has 896 pieces, so its info dictionary (about 18 KB) spans two
// ut_metadata pieces and the last one is short.
func metadataTorrent(t *testing.T, dir string) *metainfo.MetaInfo {
	t.Helper()
	mi := writeTree(t, dir, "mag", []int{10 << 20, 4<<20 - 12_345, 12_345}, 16<<10, 7)
	if n := wire.MetadataPieces(len(mi.Info.Bytes())); n < 2 {
		t.Fatalf("info dictionary of %d bytes has %d metadata pieces; want several", len(mi.Info.Bytes()), n)
	}
	return mi
}

func parseMagnet(t *testing.T, ih [20]byte, peers ...string) *magnet.Magnet {
	t.Helper()
	uri := fmt.Sprintf("magnet:?xt=urn:btih:%x&dn=mag", ih)
	for _, p := range peers {
		uri += "&x.pe=" + p
	}
	m, err := magnet.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// lyingPeer accepts BitTorrent connections for ih and serves info, an info dictionary
// whose hash is not ih, over ut_metadata. It counts the metadata requests it answered.
type lyingPeer struct {
	ln       net.Listener
	answered atomic.Int32
}

func startLyingPeer(t *testing.T, ih [20]byte, info []byte) *lyingPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.9:0")
	if err != nil {
		t.Fatal(err)
	}
	lp := &lyingPeer{ln: ln}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go lp.serve(nc, ih, info)
		}
	}()
	return lp
}

func (lp *lyingPeer) serve(nc net.Conn, ih [20]byte, info []byte) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := wire.ReadHandshake(nc); err != nil {
		return
	}
	h := wire.Handshake{InfoHash: ih}
	copy(h.PeerID[:], "-LY0001-liarliarliar")
	h.Reserved.SetExtended(true)
	if err := wire.WriteHandshake(nc, h); err != nil {
		return
	}
	const ourID = 3
	eh := wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: ourID}, MetadataSize: len(info)}
	nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: wire.AppendExtendedHandshake(nil, eh)}))
	r := wire.NewReader(nc, wire.DefaultMaxMessageLen)
	var theirID uint8
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		if m.Type != wire.Extended {
			continue
		}
		switch m.ExtID {
		case wire.ExtHandshakeID:
			ph, err := wire.ParseExtendedHandshake(m.Payload)
			if err != nil {
				return
			}
			theirID = uint8(ph.M[wire.ExtMetadata])
		case ourID:
			mm, err := wire.ParseMetadataMessage(m.Payload)
			if err != nil || mm.Type != wire.MetadataRequest || theirID == 0 {
				return
			}
			size, ok := wire.MetadataPieceSize(len(info), mm.Piece)
			if !ok {
				return
			}
			start := mm.Piece * wire.MetadataPieceLen
			reply := wire.MetadataMessage{Type: wire.MetadataData, Piece: mm.Piece, TotalSize: len(info), Data: info[start : start+size]}
			nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: theirID, Payload: wire.AppendMetadataMessage(nil, reply)}))
			lp.answered.Add(1)
		}
	}
}

func TestMagnetFromSeeder(t *testing.T) {
	seedDir, leechDir := t.TempDir(), t.TempDir()
	mi := metadataTorrent(t, seedDir)
	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: seedDir}); err != nil {
		t.Fatal(err)
	}
	leecher := newTestSessionAt(t, "127.0.0.2", Settings{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tor, err := leecher.AddMagnet(ctx, parseMagnet(t, mi.InfoHash(), seeder.Addr().String()), TorrentOptions{DataDir: leechDir})
	if err != nil {
		t.Fatal(err)
	}
	if tor.InfoHash() != mi.InfoHash() {
		t.Fatalf("torrent %x, want %x", tor.InfoHash(), mi.InfoHash())
	}
	waitComplete(t, tor, 30*time.Second)
	sameTree(t, filepath.Join(seedDir, "mag"), filepath.Join(leechDir, "mag"))
}

// TestMagnetLyingPeer: a peer whose metadata does not hash to the info-hash is asked
// first; it is dropped, and the download completes from the honest seeder.
func TestMagnetLyingPeer(t *testing.T) {
	seedDir, leechDir := t.TempDir(), t.TempDir()
	mi := metadataTorrent(t, seedDir)
	fake := append([]byte(nil), mi.Info.Bytes()...)
	fake[len(fake)-2] ^= 0xff // inside the last piece hash: same size, other SHA-1
	liar := startLyingPeer(t, mi.InfoHash(), fake)
	liarAddr := liar.ln.Addr().String()

	// TCP only: the liar has no uTP, and a uTP dial would wait for its timeout first.
	leecher := newConfiguredSession(t, "127.0.0.2", Config{Transport: TransportTCP})
	t.Run("only liar", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := leecher.AddMagnet(ctx, parseMagnet(t, mi.InfoHash(), liarAddr), TorrentOptions{DataDir: leechDir})
		if !errors.Is(err, ErrMetadataMismatch) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("AddMagnet with only a liar: %v; want a deadline error naming the mismatch", err)
		}
	})
	if liar.answered.Load() == 0 {
		t.Fatal("the lying peer was never asked")
	}

	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: seedDir}); err != nil {
		t.Fatal(err)
	}
	before := liar.answered.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tor, err := leecher.AddMagnet(ctx, parseMagnet(t, mi.InfoHash(), liarAddr, seeder.Addr().String()), TorrentOptions{DataDir: leechDir})
	if err != nil {
		t.Fatal(err)
	}
	if liar.answered.Load() == before {
		t.Error("the lying peer, first in x.pe, was not asked before the honest one answered")
	}
	waitComplete(t, tor, 30*time.Second)
	sameTree(t, filepath.Join(seedDir, "mag"), filepath.Join(leechDir, "mag"))
	known := make(chan bool)
	tor.t.do(func() {
		_, ok := tor.t.known[netip.MustParseAddrPort(liarAddr)]
		known <- ok
	})
	if <-known {
		t.Error("the lying peer was handed to the torrent as a peer")
	}
}

// TestMagnetNoPeers: with no peer and no DHT, AddMagnet ends with the context.
func TestMagnetNoPeers(t *testing.T) {
	s := newTestSession(t, Settings{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := s.AddMagnet(ctx, parseMagnet(t, [20]byte{1}), TorrentOptions{DataDir: t.TempDir()})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AddMagnet without peers: %v", err)
	}
}

// scriptedPeer accepts one connection, answers the BitTorrent handshake for ih (with the
// extension bit when ext), sends hs as its extended handshake unless nil, then runs script.
func scriptedPeer(t *testing.T, ih [20]byte, ext bool, hs *wire.ExtendedHandshake, script func(nc net.Conn, r *wire.Reader)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.9:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		ln.Close() // one connection only: later dials are refused at once
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := wire.ReadHandshake(nc); err != nil {
			return
		}
		h := wire.Handshake{InfoHash: ih}
		copy(h.PeerID[:], "-SC0001-scriptscript")
		h.Reserved.SetExtended(ext)
		if wire.WriteHandshake(nc, h) != nil {
			return
		}
		if hs != nil {
			nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: wire.AppendExtendedHandshake(nil, *hs)}))
		}
		script(nc, wire.NewReader(nc, wire.DefaultMaxMessageLen))
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// nextRequest reads until our ut_metadata request (sent to id 5) arrives.
func nextRequest(r *wire.Reader) (wire.MetadataMessage, bool) {
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return wire.MetadataMessage{}, false
		}
		if m.Type == wire.Extended && m.ExtID == 5 {
			mm, err := wire.ParseMetadataMessage(m.Payload)
			return mm, err == nil && mm.Type == wire.MetadataRequest
		}
	}
}

func sendMetadata(nc net.Conn, mm wire.MetadataMessage) {
	nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: extIDMetadata, Payload: wire.AppendMetadataMessage(nil, mm)}))
}

// TestMetadataFetchBadPeers: each way a peer can fail to give metadata ends that peer's
// attempt with a clear error, without a hang or a panic.
func TestMetadataFetchBadPeers(t *testing.T) {
	ih := [20]byte{9, 9, 9}
	const size = 20_000 // two pieces
	adv := &wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: 5}, MetadataSize: size}
	piece0 := wire.MetadataMessage{Type: wire.MetadataData, Piece: 0, TotalSize: size, Data: make([]byte, wire.MetadataPieceLen)}
	piece1 := wire.MetadataMessage{Type: wire.MetadataData, Piece: 1, TotalSize: size, Data: make([]byte, size-wire.MetadataPieceLen)}
	var protoErr *errProtocol
	tests := []struct {
		name   string
		ext    bool
		hs     *wire.ExtendedHandshake
		ih     [20]byte
		script func(nc net.Conn, r *wire.Reader)
		check  func(error) bool
	}{
		{"no extension bit", false, nil, ih, func(net.Conn, *wire.Reader) {}, func(err error) bool { return errors.Is(err, ErrNoMetadata) }},
		{"no ut_metadata", true, &wire.ExtendedHandshake{M: map[string]int{wire.ExtPEX: 1}}, ih, func(nc net.Conn, r *wire.Reader) { r.ReadMessage() },
			func(err error) bool { return errors.Is(err, ErrNoMetadata) }},
		{"other torrent", true, adv, [20]byte{1}, func(net.Conn, *wire.Reader) {}, func(err error) bool { return err != nil && !errors.Is(err, ErrNoMetadata) }},
		{"reject", true, adv, ih, func(nc net.Conn, r *wire.Reader) {
			if mm, ok := nextRequest(r); ok {
				sendMetadata(nc, wire.MetadataMessage{Type: wire.MetadataReject, Piece: mm.Piece})
			}
			r.ReadMessage()
		}, func(err error) bool { return errors.Is(err, ErrNoMetadata) }},
		{"piece twice", true, adv, ih, func(nc net.Conn, r *wire.Reader) {
			nextRequest(r)
			sendMetadata(nc, piece0)
			sendMetadata(nc, piece0)
			r.ReadMessage()
		}, func(err error) bool { return errors.As(err, &protoErr) }},
		{"total_size differs from handshake", true, adv, ih, func(nc net.Conn, r *wire.Reader) {
			nextRequest(r)
			other := piece0
			other.TotalSize = size + 1
			sendMetadata(nc, other)
			r.ReadMessage()
		}, func(err error) bool { return errors.As(err, &protoErr) }},
		{"piece of wrong length", true, adv, ih, func(nc net.Conn, r *wire.Reader) {
			nextRequest(r)
			short := piece1
			short.Data = short.Data[1:]
			sendMetadata(nc, short)
			r.ReadMessage()
		}, func(err error) bool { return errors.Is(err, wire.ErrBadPayload) }},
		{"garbage ut_metadata", true, adv, ih, func(nc net.Conn, r *wire.Reader) {
			nextRequest(r)
			nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: extIDMetadata, Payload: []byte("d8:msg_typei1e")}))
			r.ReadMessage()
		}, func(err error) bool { return errors.Is(err, wire.ErrBadPayload) }},
		{"wrong hash", true, adv, ih, func(nc net.Conn, r *wire.Reader) {
			nextRequest(r)
			sendMetadata(nc, piece0)
			sendMetadata(nc, piece1)
			r.ReadMessage()
		}, func(err error) bool { return errors.Is(err, ErrMetadataMismatch) }},
		{"silent", true, adv, ih, func(nc net.Conn, r *wire.Reader) {
			for {
				if _, err := r.ReadMessage(); err != nil {
					return
				}
			}
		}, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
	}
	s := newConfiguredSession(t, "127.0.0.2", Config{Transport: TransportTCP})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := scriptedPeer(t, tt.ih, tt.ext, tt.hs, tt.script)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			f := &metadataFetch{s: s, ih: ih}
			res := f.fetchFrom(ctx, addr)
			if res.raw != nil || !tt.check(res.err) {
				t.Fatalf("fetch: %d bytes, err %v", len(res.raw), res.err)
			}
			t.Logf("%v", res.err)
		})
	}
}

// TestMagnetFromDHT: a magnet link with no peer address; the seeder is found through the
// DHT, which the metadata fetch asks (again) until it answers.
func TestMagnetFromDHT(t *testing.T) {
	boot := newConfiguredSession(t, "127.0.0.1", Config{DHT: DHTConfig{Enabled: true}})
	dir, out := t.TempDir(), t.TempDir()
	mi := writeTree(t, dir, "dhtmag", []int{300_000, 5}, 32<<10, 23)
	nodes := []string{boot.Addr().String()}
	seeder := newConfiguredSession(t, "127.0.0.2", Config{DHT: DHTConfig{Enabled: true, Nodes: nodes}})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	leecher := newConfiguredSession(t, "127.0.0.3", Config{DHT: DHTConfig{Enabled: true, Nodes: nodes}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tor, err := leecher.AddMagnet(ctx, parseMagnet(t, mi.InfoHash()), TorrentOptions{DataDir: out})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, tor, 60*time.Second)
	sameTree(t, filepath.Join(dir, "dhtmag"), filepath.Join(out, "dhtmag"))
}

// TestMagnetFromTracker: a magnet link whose only peer source is its tracker (tr=): an
// HTTP tracker answering with the seeder's address in compact form (BEP 23).
func TestMagnetFromTracker(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	mi := writeTree(t, dir, "trmag", []int{200_000}, 32<<10, 24)
	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	sa := netip.MustParseAddrPort(seeder.Addr().String())
	var announces atomic.Int32
	ih := mi.InfoHash()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("info_hash") != string(ih[:]) {
			http.Error(w, "unknown torrent", http.StatusNotFound)
			return
		}
		announces.Add(1)
		ip := sa.Addr().As4()
		peers := append(ip[:], byte(sa.Port()>>8), byte(sa.Port()))
		fmt.Fprintf(w, "d8:intervali1800e5:peers%d:%se", len(peers), peers)
	}))
	defer srv.Close()
	m := parseMagnet(t, ih)
	m.Trackers = []string{srv.URL + "/announce"}
	leecher := newTestSessionAt(t, "127.0.0.2", Settings{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tor, err := leecher.AddMagnet(ctx, m, TorrentOptions{DataDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if announces.Load() == 0 {
		t.Fatal("the tracker was never asked")
	}
	waitComplete(t, tor, 30*time.Second)
	sameTree(t, filepath.Join(dir, "trmag"), filepath.Join(out, "trmag"))
	// The torrent goes on announcing to the link's tracker.
	waitStats(t, tor, func(s Stats) bool { return s.TrackerAnnounces > 0 })
}

// TestMagnetFromPEX: the link's only peer has no metadata, but its ut_pex names the
// seeder, from which the metadata and data come.
func TestMagnetFromPEX(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	mi := writeTree(t, dir, "pexmag", []int{200_000}, 32<<10, 25)
	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	sa := netip.MustParseAddrPort(seeder.Addr().String())
	sentPEX := make(chan struct{})
	hub := scriptedPeer(t, mi.InfoHash(), true, &wire.ExtendedHandshake{M: map[string]int{wire.ExtPEX: 1}}, func(nc net.Conn, r *wire.Reader) {
		for {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			if m.Type != wire.Extended || m.ExtID != wire.ExtHandshakeID {
				continue
			}
			h, err := wire.ParseExtendedHandshake(m.Payload)
			if err != nil || h.M[wire.ExtPEX] == 0 {
				return // the fetch did not offer ut_pex
			}
			msg := wire.PEX{Added: []wire.PEXPeer{{Addr: sa, Flags: wire.PEXSeed}}}
			sendPEX(t, nc, h.M[wire.ExtPEX], wire.AppendPEX(nil, msg))
			close(sentPEX)
			r.ReadMessage() // until the fetch hangs up
			return
		}
	})
	leecher := newConfiguredSession(t, "127.0.0.2", Config{Transport: TransportTCP})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tor, err := leecher.AddMagnet(ctx, parseMagnet(t, mi.InfoHash(), hub.String()), TorrentOptions{DataDir: out})
	if err != nil {
		t.Fatal(err)
	}
	// The leecher can only have learned the seeder's address from the hub's PEX message; the
	// hub's goroutine may not have reached close(sentPEX) yet when the fetch is done.
	select {
	case <-sentPEX:
	case <-time.After(10 * time.Second):
		t.Fatal("metadata arrived without the hub's PEX message")
	}
	waitComplete(t, tor, 30*time.Second)
	sameTree(t, filepath.Join(dir, "pexmag"), filepath.Join(out, "pexmag"))
}

// BenchmarkMetadataFetch: one whole fetch from a seeder over loopback TCP: dial, both
// handshakes, two ut_metadata pieces (about 18 KB), SHA-1 check.
func BenchmarkMetadataFetch(b *testing.B) {
	dir := b.TempDir()
	// 14 MiB at 16 KiB pieces: an info dictionary of two metadata pieces. The content
	// does not matter to the fetch.
	if err := os.WriteFile(filepath.Join(dir, "mag"), make([]byte, 14<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	mi, err := metainfo.Create(context.Background(), filepath.Join(dir, "mag"), metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		b.Fatal(err)
	}
	seeder, err := NewSession(Config{Listen: "127.0.0.1:0", Transport: TransportTCP})
	if err != nil {
		b.Fatal(err)
	}
	defer seeder.Close()
	st, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	leecher, err := NewSession(Config{Listen: "127.0.0.2:0", Transport: TransportTCP})
	if err != nil {
		b.Fatal(err)
	}
	defer leecher.Close()
	addr := netip.MustParseAddrPort(seeder.Addr().String())
	b.ReportAllocs()
	for b.Loop() {
		f := &metadataFetch{s: leecher, ih: mi.InfoHash()}
		if res := f.fetchFrom(context.Background(), addr); res.err != nil {
			b.Fatal(res.err)
		}
		// The seeder refuses a second connection from our peer id while it still holds
		// the last one: let it see the close first.
		b.StopTimer()
		for st.Stats().Peers != 0 {
			time.Sleep(100 * time.Microsecond)
		}
		b.StartTimer()
	}
}

// TestMagnetBadAddresses: an x.pe address that does not parse is skipped (the honest one
// still serves, and the torrent starts); a bad address of the caller's is an error.
func TestMagnetBadAddresses(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	mi := writeTree(t, dir, "badaddr", []int{100_000}, 32<<10, 26)
	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	leecher := newTestSessionAt(t, "127.0.0.2", Settings{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := parseMagnet(t, mi.InfoHash(), "[::1:6881", seeder.Addr().String())
	if _, err := leecher.AddMagnet(ctx, m, TorrentOptions{DataDir: out, Peers: []string{"not an address"}}); err == nil {
		t.Fatal("AddMagnet accepted a bad address in opts.Peers")
	}
	tor, err := leecher.AddMagnet(ctx, m, TorrentOptions{DataDir: out})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, tor, 30*time.Second)
}

// TestMagnetInfoCached: with a resume file, the fetched info dictionary is kept beside it,
// and a restart needs no peer for the metadata (nor the data, already on disk); a cache
// that does not hash to the info-hash is not used.
func TestMagnetInfoCached(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	mi := writeTree(t, dir, "cached", []int{100_000}, 32<<10, 27)
	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	opts := TorrentOptions{DataDir: out, ResumeFile: filepath.Join(out, ".btt", "x.resume")}
	first := newTestSessionAt(t, "127.0.0.2", Settings{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tor, err := first.AddMagnet(ctx, parseMagnet(t, mi.InfoHash(), seeder.Addr().String()), opts)
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, tor, 30*time.Second)
	first.Close()

	// No peer at all this time.
	second := newTestSessionAt(t, "127.0.0.2", Settings{})
	qctx, qcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer qcancel()
	tor, err = second.AddMagnet(qctx, parseMagnet(t, mi.InfoHash()), opts)
	if err != nil {
		t.Fatalf("restart without peers: %v", err)
	}
	if !tor.Stats().Complete {
		t.Errorf("restart: %+v", tor.Stats())
	}
	tor.Close()

	cache := infoCachePath(opts, mi.InfoHash())
	b, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-2] ^= 1
	if err := os.WriteFile(cache, b, 0o644); err != nil {
		t.Fatal(err)
	}
	qctx, qcancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer qcancel()
	if _, err := second.AddMagnet(qctx, parseMagnet(t, mi.InfoHash()), opts); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AddMagnet with a corrupt cache and no peers: %v", err)
	}
}
