package peer

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/wire/metainfo"
)

// writeTree creates files with pseudo-random content under dir/name and returns the torrent.
func writeTree(t testing.TB, dir, name string, sizes []int, pieceLen int64, seed uint64) *metainfo.MetaInfo {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	root := filepath.Join(dir, name)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, n := range sizes {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if err := os.WriteFile(filepath.Join(root, "f"+string(rune('a'+i))), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mi, err := metainfo.Create(context.Background(), root, metainfo.CreateOptions{PieceLength: pieceLen, PadFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	return mi
}

func newTestSession(t testing.TB, s Settings) *Session {
	t.Helper()
	return newTestSessionAt(t, "127.0.0.1", s)
}

// newTestSessionAt listens on its own loopback address: bans are per address, so tests of
// banning need peers that do not share one.
func newTestSessionAt(t testing.TB, ip string, s Settings) *Session {
	t.Helper()
	return newConfiguredSession(t, ip, Config{Settings: s})
}

// newConfiguredSession starts a session listening on ip (any port) with cfg, logging to the
// test's output under -v, and closes it when the test ends.
func newConfiguredSession(t testing.TB, ip string, cfg Config) *Session {
	t.Helper()
	cfg.Listen = ip + ":0"
	if testing.Verbose() && cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})).With("session", ip)
	}
	sess, err := NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func waitComplete(t testing.TB, tor *Torrent, d time.Duration) {
	t.Helper()
	select {
	case <-tor.Complete():
	case <-time.After(d):
		t.Fatalf("not complete after %v: %+v", d, tor.Stats())
	}
}

func sameTree(t *testing.T, a, b string) {
	t.Helper()
	err := filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if !bytes.Equal(want, got) {
			t.Errorf("%s differs", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSeedToLeech(t *testing.T) {
	seedDir, leechDir := t.TempDir(), t.TempDir()
	mi := writeTree(t, seedDir, "tree", []int{100_000, 1 << 20, 7, 300_000}, 32<<10, 1)

	seeder := newTestSession(t, Settings{})
	st, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: seedDir})
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Stats(); !s.Complete {
		t.Fatalf("seeder not complete after recheck: %+v", s)
	}
	leecher := newTestSession(t, Settings{})
	lt, err := leecher.AddTorrent(mi.Info, TorrentOptions{DataDir: leechDir, Peers: []string{seeder.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	sameTree(t, filepath.Join(seedDir, "tree"), filepath.Join(leechDir, "tree"))
	s := lt.Stats()
	if s.Downloaded < mi.Info.TotalLength-int64(padBytes(mi.Info)) || s.HashFailures != 0 {
		t.Errorf("stats after download: %+v", s)
	}
}

func padBytes(info *metainfo.Info) int64 {
	var n int64
	for _, f := range info.Files {
		if f.Pad {
			n += f.Length
		}
	}
	return n
}

// TestSwarm: one seeder, three leechers connected to the seeder and to each other; pieces
// must flow between leechers, not only from the seeder.
func TestSwarm(t *testing.T) {
	seedDir := t.TempDir()
	mi := writeTree(t, seedDir, "swarm", []int{3 << 20}, 16<<10, 2)
	// One upload slot at the seeder forces leechers to trade among themselves.
	seeder := newTestSession(t, Settings{UploadSlots: 1})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: seedDir}); err != nil {
		t.Fatal(err)
	}
	var leechers []*Torrent
	var addrs []string
	for range 3 {
		s := newTestSession(t, Settings{RechokeInterval: time.Second})
		tor, err := s.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir(), Peers: append([]string{seeder.Addr().String()}, addrs...)})
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, s.Addr().String())
		leechers = append(leechers, tor)
	}
	var shared int64
	for _, l := range leechers {
		waitComplete(t, l, 60*time.Second)
	}
	for _, l := range leechers {
		shared += l.Stats().Uploaded
	}
	if shared == 0 {
		t.Error("no leecher uploaded anything: pieces came only from the seeder")
	}
	t.Logf("bytes uploaded between leechers: %d of %d", shared, 3*mi.Info.TotalLength)
}

// TestCorruptPeerBanned: a seeder whose data went bad after it verified it sends corrupt
// blocks; the leecher re-fetches those pieces from an honest seeder and bans the liar.
func TestCorruptPeerBanned(t *testing.T) {
	goodDir, badDir := t.TempDir(), t.TempDir()
	mi := writeTree(t, goodDir, "c", []int{2 << 20}, 64<<10, 3)
	writeTree(t, badDir, "c", []int{2 << 20}, 64<<10, 3)

	good := newTestSessionAt(t, "127.0.0.2", Settings{})
	if _, err := good.AddTorrent(mi.Info, TorrentOptions{DataDir: goodDir}); err != nil {
		t.Fatal(err)
	}
	bad := newTestSessionAt(t, "127.0.0.3", Settings{})
	if _, err := bad.AddTorrent(mi.Info, TorrentOptions{DataDir: badDir}); err != nil {
		t.Fatal(err)
	}
	// Corrupt the bad seeder's file behind its back: it still believes every piece is good.
	garbage := bytes.Repeat([]byte{0xAA}, 2<<20)
	if err := os.WriteFile(filepath.Join(badDir, "c", "fa"), garbage, 0o644); err != nil {
		t.Fatal(err)
	}

	leecher := newTestSession(t, Settings{HashFailBan: 2})
	lt, err := leecher.AddTorrent(mi.Info, TorrentOptions{DataDir: t.TempDir(), Peers: []string{bad.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	// Let the bad seeder feed us first, then offer the good one.
	deadline := time.Now().Add(20 * time.Second)
	for lt.Stats().HashFailures < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := lt.AddPeers(good.Addr().String()); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	s := lt.Stats()
	if s.HashFailures < 2 || s.Banned < 1 {
		t.Fatalf("want >= 2 hash failures and a ban, got %+v", s)
	}
	if !leecher.banned(mustAddr(t, bad.Addr().String())) {
		t.Error("corrupt seeder's address is not banned")
	}
}

// TestResume: a download stopped half way resumes from disk without refetching what it had.
func TestResume(t *testing.T) {
	seedDir, leechDir := t.TempDir(), t.TempDir()
	mi := writeTree(t, seedDir, "r", []int{4 << 20}, 64<<10, 4)
	seeder := newTestSession(t, Settings{})
	if _, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: seedDir}); err != nil {
		t.Fatal(err)
	}
	resume := filepath.Join(t.TempDir(), "r.resume")
	l1, err := NewSession(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	lt, err := l1.AddTorrent(mi.Info, TorrentOptions{DataDir: leechDir, ResumeFile: resume, Peers: []string{seeder.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for lt.Stats().PiecesDone < 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	l1.Close()
	had := lt.Stats().PiecesDone
	if had == 0 {
		t.Fatal("nothing downloaded before the stop")
	}

	l2 := newTestSession(t, Settings{})
	lt2, err := l2.AddTorrent(mi.Info, TorrentOptions{DataDir: leechDir, ResumeFile: resume, Peers: []string{seeder.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	if got := lt2.Stats().RecheckedPieces; got < had {
		t.Fatalf("after restart %d pieces verified on disk, had %d", got, had)
	}
	waitComplete(t, lt2, 30*time.Second)
	sameTree(t, filepath.Join(seedDir, "r"), filepath.Join(leechDir, "r"))
	want := mi.Info.TotalLength - int64(had)*mi.Info.PieceLength
	if got := lt2.Stats().Downloaded; got > want {
		t.Errorf("second run downloaded %d bytes, more than the %d missing", got, want)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Addr()
}
