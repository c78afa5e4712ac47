package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
	leecher := newTransportSession(t, "127.0.0.2", Config{Transport: TransportTCP})
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
