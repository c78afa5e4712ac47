package thirdparty

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
)

// trackerSeed starts opentracker on 127.0.0.1 and a libtorrent seeder on
// 127.0.0.2 of a v1-only torrent that names the tracker, and waits until the
// seeder has announced, so a client that announces next is told about it.
func trackerSeed(t *testing.T, ctx context.Context) (root, torPath string, seed *LT) {
	t.Helper()
	testutil.NeedLibtorrent(t)
	httpAddr := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
	udpPort := testutil.FreeUDPPort(t, "127.0.0.1")
	root = WriteFiles(t, t.TempDir(), multiFiles)
	// The tracker URL must be in the torrent before the info-hash is known, so
	// reserve the addresses first and whitelist afterwards.
	httpURL := "http://" + httpAddr + "/announce"
	tor := LibtorrentCreateTorrent(t, filepath.Join(root, "payload"), 256<<10, true, []string{httpURL})
	torPath = WriteTorrent(t, tor)
	gotURL, _ := StartOpentracker(t, httpAddr, udpPort, [][20]byte{InfoHash(t, tor)})
	if gotURL != httpURL {
		t.Fatalf("StartOpentracker returned %q, want %q", gotURL, httpURL)
	}
	seed = StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: torPath, SavePath: root, Seed: true, TCP: true})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	if err := seed.WaitAnnounced(ctx); err != nil {
		t.Fatal(err)
	}
	return root, torPath, seed
}

func TestLibtorrentToAria2ViaOpentracker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root, torPath, seed := trackerSeed(t, ctx)
	a := StartAria2(t, Aria2Config{Listen: testutil.Addr("127.0.0.4", testutil.FreePort(t, "127.0.0.4")), Torrent: torPath})
	if err := a.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitExit(ctx); err != nil {
		t.Errorf("aria2c exit: %v", err)
	}
	sameFiles(t, root, a.Dir())
	if st := seed.Status(); st.TotalPayloadUp < st.TotalWanted {
		t.Errorf("seeder uploaded %d payload bytes, torrent has %d", st.TotalPayloadUp, st.TotalWanted)
	}
}

// Transmission ignores 127.0.0.0/8 addresses in tracker replies (it treats
// them as martian), so it cannot find the seeder that way; the seeder learns
// Transmission's address from the tracker and dials it instead.
func TestLibtorrentToTransmissionViaOpentracker(t *testing.T) {
	testutil.NeedLibtorrent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	httpAddr := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
	httpURL := "http://" + httpAddr + "/announce"
	root := WriteFiles(t, t.TempDir(), multiFiles)
	tor := LibtorrentCreateTorrent(t, filepath.Join(root, "payload"), 256<<10, true, []string{httpURL})
	torPath := WriteTorrent(t, tor)
	ih := InfoHash(t, tor)
	StartOpentracker(t, httpAddr, testutil.FreeUDPPort(t, "127.0.0.1"), [][20]byte{ih})

	tr := StartTransmission(t, TransmissionConfig{Listen: testutil.Addr("127.0.0.5", testutil.FreePort(t, "127.0.0.5")), Torrent: torPath})
	start := time.Now()
	if err := WaitSwarm(ctx, httpURL, ih, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("transmission announced after %v", time.Since(start))
	seed := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: torPath, SavePath: root, Seed: true, TCP: true})
	if err := tr.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("transmission finished after %v", time.Since(start))
	sameFiles(t, root, tr.Dir())
	if st := seed.Status(); st.TotalPayloadUp < st.TotalWanted {
		t.Errorf("seeder uploaded %d payload bytes, torrent has %d", st.TotalPayloadUp, st.TotalWanted)
	}
}

// aria2 and Transmission as seeders: libtorrent dials them.
func TestSeedersAria2AndTransmission(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root := WriteFiles(t, t.TempDir(), multiFiles)
	tor := LibtorrentCreateTorrent(t, filepath.Join(root, "payload"), 256<<10, true, nil)
	torPath := WriteTorrent(t, tor)
	for _, name := range []string{"aria2", "transmission"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var addr string
			switch name {
			case "aria2":
				a := StartAria2(t, Aria2Config{Listen: testutil.Addr("127.0.0.4", testutil.FreePort(t, "127.0.0.4")),
					Torrent: torPath, Dir: root, Seed: true})
				addr = a.Addr()
			case "transmission":
				tr := StartTransmission(t, TransmissionConfig{Listen: testutil.Addr("127.0.0.5", testutil.FreePort(t, "127.0.0.5")),
					Torrent: torPath, Dir: root, Verify: true})
				if err := tr.WaitVerified(ctx); err != nil {
					t.Fatal(err)
				}
				addr = tr.Addr()
			}
			dl := t.TempDir()
			leech := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
				Torrent: torPath, SavePath: dl, TCP: true})
			// The seeder may still be checking its data when first dialled
			// and refuse the torrent; dial again until the download starts.
			for {
				leech.ConnectPeer(addr)
				wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
				err := leech.WaitFinished(wctx)
				wcancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("download from %s: %v", name, err)
				}
			}
			leech.Stop() // libtorrent may still hold written blocks when it reports finished
			sameFiles(t, root, dl)
		})
	}
}

// The UDP announce URL works too, and the HTTP scrape sees what was announced
// over UDP (one swarm behind both).
func TestOpentrackerUDP(t *testing.T) {
	testutil.NeedLibtorrent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root, torPath, tor := seedSetup(t, true, nil)
	ih := InfoHash(t, tor)
	httpURL, udpURL := StartOpentracker(t, testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")),
		testutil.FreeUDPPort(t, "127.0.0.1"), [][20]byte{ih})
	if s, l, err := ScrapeCounts(ctx, httpURL, ih); err != nil || s+l != 0 {
		t.Fatalf("fresh tracker: %d seeders %d leechers, err %v", s, l, err)
	}
	seed := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: torPath, SavePath: root, Seed: true, Trackers: []string{udpURL}})
	if err := seed.WaitAnnounced(ctx); err != nil {
		t.Fatal(err)
	}
	if err := WaitSwarm(ctx, httpURL, ih, 1); err != nil {
		t.Fatal(err)
	}
	if s, _, err := ScrapeCounts(ctx, httpURL, ih); err != nil || s != 1 {
		t.Errorf("after a seeder's UDP announce: %d seeders, err %v; want 1", s, err)
	}
	var other [20]byte
	if _, _, err := ScrapeCounts(ctx, httpURL, other); err != nil {
		t.Logf("scrape of a hash not on the whitelist: %v", err)
	}
}
