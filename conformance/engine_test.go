package conformance

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/wire/metainfo"
)

// engineFiles is a multi-file torrent whose sizes are not multiples of the piece length, so
// with pad files every file after the first starts on a piece boundary and pads are needed.
var engineFiles = []thirdparty.File{
	{Path: "a.bin", Size: 1_000_001},
	{Path: "sub/b.bin", Size: 2_500_000},
	{Path: "sub/c.txt", Size: 12_345},
	{Path: "d.bin", Size: 700_000},
}

// makePaddedTorrent writes files under dir/name and makes a v1 torrent of them with BEP 47
// pad files, saved beside as name.torrent.
func makePaddedTorrent(t *testing.T, dir, name string, files []thirdparty.File, pieceLen int64) (*metainfo.MetaInfo, string) {
	t.Helper()
	return makeTorrent(t, dir, name, files, pieceLen, true)
}

func makeTorrent(t *testing.T, dir, name string, files []thirdparty.File, pieceLen int64, pad bool) (*metainfo.MetaInfo, string) {
	t.Helper()
	root := thirdparty.WriteFiles(t, filepath.Join(dir, name), files)
	mi, err := metainfo.Create(context.Background(), root, metainfo.CreateOptions{PieceLength: pieceLen, PadFiles: pad, CreatedBy: "btt-conformance"})
	if err != nil {
		t.Fatal(err)
	}
	pads := 0
	for _, f := range mi.Info.Files {
		if f.Pad {
			pads++
		}
	}
	if pad && len(files) > 1 && pads == 0 {
		t.Fatal("torrent has no pad files; the test would not exercise BEP 47")
	}
	b, err := mi.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".torrent")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return mi, path
}

// sameContent compares every non-pad file of the torrent under two data directories.
func sameContent(t *testing.T, info *metainfo.Info, wantDir, gotDir string) {
	t.Helper()
	for _, f := range info.Files {
		if f.Pad {
			continue
		}
		rel := filepath.Join(f.Path...)
		want, err := os.ReadFile(filepath.Join(wantDir, rel))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(gotDir, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if !bytes.Equal(want, got) {
			t.Errorf("%s: content differs (%d vs %d bytes)", rel, len(want), len(got))
		}
	}
}

// startSession starts one of our sessions listening on ip, with Speed on: legacy peers must
// be served exactly as if it were off (they never see a Speed message).
func startSession(t *testing.T, ip string, s peer.Settings) *peer.Session {
	t.Helper()
	sc := bidext.DefaultSettings()
	sc.Enabled = true
	speed := peer.SpeedConfig{Settings: sc, Balance: func() uint64 { return 5 * bidext.UnitsPerBTT }}
	return startSessionCfg(t, ip, peer.Config{Settings: s, Speed: speed})
}

func addTorrent(t *testing.T, sess *peer.Session, mi *metainfo.MetaInfo, dir string, peers ...string) *peer.Torrent {
	t.Helper()
	tor, err := sess.AddTorrent(mi.Info, peer.TorrentOptions{DataDir: dir, Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	return tor
}

func waitOurs(t *testing.T, tor *peer.Torrent, d time.Duration) {
	t.Helper()
	select {
	case <-tor.Complete():
	case <-time.After(d):
		t.Fatalf("our client did not complete in %v: %+v", d, tor.Stats())
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestOurSeederToLibtorrent: libtorrent downloads a padded multi-file torrent from our
// seeder; tshark reads the capture of that session without a malformed frame.
func TestOurSeederToLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makePaddedTorrent(t, dir, "lt", engineFiles, 256<<10)
	seeder := startSession(t, "127.0.0.1", peer.Settings{})
	addTorrent(t, seeder, mi, dir)
	ourPort := seeder.Addr().(*net.TCPAddr).Port

	capture := thirdparty.StartCapture(t, "lo", fmt.Sprintf("tcp port %d", ourPort))
	out := t.TempDir()
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:   testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent:  torrentPath,
		SavePath: out,
		TCP:      true,
		Peers:    []string{seeder.Addr().String()},
	})
	if err := lt.WaitFinished(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatalf("libtorrent: %v (status %+v)", err, lt.Status())
	}
	lt.Stop() // libtorrent may still hold written blocks when it reports finished
	sameContent(t, mi.Info, dir, out)
	pcap := capture.Stop()
	rep := thirdparty.CheckPcap(t, pcap, fmt.Sprintf("tcp.port==%d,bittorrent", ourPort))
	rep.Expect(t, "bittorrent")
	t.Logf("capture: %s", rep)
}

// TestOurSeederToTransmission: Transmission cannot dial, so our seeder dials it.
func TestOurSeederToTransmission(t *testing.T) {
	dir := t.TempDir()
	mi, torrentPath := makePaddedTorrent(t, dir, "tr", engineFiles, 256<<10)
	tr := thirdparty.StartTransmission(t, thirdparty.TransmissionConfig{
		Listen:  testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
		Torrent: torrentPath,
	})
	seeder := startSession(t, "127.0.0.1", peer.Settings{})
	addTorrent(t, seeder, mi, dir, tr.Addr())
	if err := tr.WaitFinished(ctxFor(t, 90*time.Second)); err != nil {
		t.Fatalf("transmission: %v", err)
	}
	sameContent(t, mi.Info, dir, tr.Dir())
}

// TestOurSeederToAria2: aria2 cannot dial either; our seeder dials it.
func TestOurSeederToAria2(t *testing.T) {
	dir := t.TempDir()
	mi, torrentPath := makePaddedTorrent(t, dir, "ar", engineFiles, 256<<10)
	ar := thirdparty.StartAria2(t, thirdparty.Aria2Config{
		Listen:  testutil.Addr("127.0.0.4", testutil.FreePort(t, "127.0.0.4")),
		Torrent: torrentPath,
	})
	seeder := startSession(t, "127.0.0.1", peer.Settings{})
	addTorrent(t, seeder, mi, dir, ar.Addr())
	if err := ar.WaitFinished(ctxFor(t, 90*time.Second)); err != nil {
		t.Fatalf("aria2: %v", err)
	}
	sameContent(t, mi.Info, dir, ar.Dir())
}

// TestLibtorrentSeederToUs: we download from a libtorrent seeder.
func TestLibtorrentSeederToUs(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makePaddedTorrent(t, dir, "lts", engineFiles, 64<<10)
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:   testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent:  torrentPath,
		SavePath: dir,
		Seed:     true,
		TCP:      true,
	})
	if err := lt.WaitSeeding(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	leecher := startSession(t, "127.0.0.1", peer.Settings{})
	out := t.TempDir()
	tor := addTorrent(t, leecher, mi, out, lt.Addr())
	waitOurs(t, tor, 60*time.Second)
	sameContent(t, mi.Info, dir, out)
}

// TestTransmissionSeederToUs: we download from a seeding Transmission; it cannot dial, so
// we dial it. The torrent has no pad files: Transmission 3.00 does not implement BEP 47, so it
// looks for pad files on disk and never has the pieces they touch.
func TestTransmissionSeederToUs(t *testing.T) {
	dir := t.TempDir()
	mi, torrentPath := makeTorrent(t, dir, "trs", engineFiles, 64<<10, false)
	tr := thirdparty.StartTransmission(t, thirdparty.TransmissionConfig{
		Listen:  testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
		Torrent: torrentPath,
		Dir:     dir,
		Verify:  true,
	})
	// Transmission verifies before it serves: retry the dial until it answers.
	leecher := startSession(t, "127.0.0.1", peer.Settings{})
	out := t.TempDir()
	tor := addTorrent(t, leecher, mi, out)
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := tor.AddPeers(tr.Addr()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-tor.Complete():
			sameContent(t, mi.Info, dir, out)
			return
		case <-time.After(2 * time.Second):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not complete from transmission: %+v", tor.Stats())
		}
	}
}

// TestMixedSwarm: our seeder, two of our leechers and a libtorrent leecher; every leecher
// finishes and pieces flow between leechers, not only from the seeder.
func TestMixedSwarm(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makePaddedTorrent(t, dir, "mix", []thirdparty.File{{Path: "x.bin", Size: 6<<20 + 1234}, {Path: "y.bin", Size: 1 << 20}}, 64<<10)
	// One upload slot at the seeder, so the leechers must trade among themselves.
	seeder := startSession(t, "127.0.0.1", peer.Settings{UploadSlots: 1})
	addTorrent(t, seeder, mi, dir)
	l1 := startSession(t, "127.0.0.5", peer.Settings{RechokeInterval: 2 * time.Second})
	l2 := startSession(t, "127.0.0.6", peer.Settings{RechokeInterval: 2 * time.Second})
	t1 := addTorrent(t, l1, mi, t.TempDir(), seeder.Addr().String())
	t2 := addTorrent(t, l2, mi, t.TempDir(), seeder.Addr().String(), l1.Addr().String())
	lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
		Listen:     testutil.Addr("127.0.0.7", testutil.FreePort(t, "127.0.0.7")),
		Torrent:    torrentPath,
		TCP:        true,
		ChokeLocal: true,
		Peers:      []string{seeder.Addr().String(), l1.Addr().String(), l2.Addr().String()},
	})
	waitOurs(t, t1, 90*time.Second)
	waitOurs(t, t2, 90*time.Second)
	if err := lt.WaitFinished(ctxFor(t, 90*time.Second)); err != nil {
		t.Fatalf("libtorrent leecher: %v", err)
	}
	st := lt.Status()
	var fromLeechers int64
	for _, p := range st.Peers {
		if p.Addr != seeder.Addr().String() {
			fromLeechers += p.TotalDown
		}
	}
	shared := t1.Stats().Uploaded + t2.Stats().Uploaded
	t.Logf("our leechers uploaded %d bytes; libtorrent got %d bytes from leechers still connected", shared, fromLeechers)
	if shared == 0 {
		t.Error("our leechers uploaded nothing: pieces flowed only from the seeder")
	}
}
