package thirdparty

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
)

// multiFiles is the small multi-file payload the tests move between clients:
// sizes chosen so files straddle piece boundaries and one is empty-ish.
var multiFiles = []File{
	{"payload/a.bin", 1<<20 + 12345},
	{"payload/sub/b.bin", 700_000},
	{"payload/sub/c.txt", 17},
	{"payload/d.bin", 2 << 20},
}

// seedSetup writes multiFiles, makes a torrent of them with libtorrent and
// returns (data root, torrent path, torrent bytes).
func seedSetup(t *testing.T, v1only bool, trackers []string) (string, string, []byte) {
	t.Helper()
	root := WriteFiles(t, t.TempDir(), multiFiles)
	tor := LibtorrentCreateTorrent(t, filepath.Join(root, "payload"), 256<<10, v1only, trackers)
	return root, WriteTorrent(t, tor), tor
}

// sameFiles fails the test unless every file of multiFiles under got equals
// the one under want.
func sameFiles(t *testing.T, want, got string) {
	t.Helper()
	for _, f := range multiFiles {
		a, err := os.ReadFile(filepath.Join(want, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(got, f.Path))
		if err != nil {
			t.Fatalf("downloaded file: %v", err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs after transfer (%d vs %d bytes)", f.Path, len(a), len(b))
		}
	}
}

func TestLibtorrentToLibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root, torPath, _ := seedSetup(t, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	seed := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: torPath, SavePath: root, Seed: true, TCP: true})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	dl := t.TempDir()
	leech := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
		Torrent: torPath, SavePath: dl, TCP: true, Peers: []string{seed.Addr()}, PieceStats: true})
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	st := leech.Status()
	if st.Progress != 1 || !st.IsSeeding {
		t.Errorf("leecher status after finish: progress %v seeding %v", st.Progress, st.IsSeeding)
	}
	leech.Stop() // libtorrent may still hold written blocks when it reports finished
	sameFiles(t, root, dl)
	if st.TotalPayloadDown < st.TotalWanted {
		t.Errorf("leecher downloaded %d payload bytes, torrent has %d", st.TotalPayloadDown, st.TotalWanted)
	}
	// Against the seeder's count: the leecher's status snapshot may be taken as it finishes,
	// one piece before its own num_pieces catches up (seen: 16 of 17).
	if got, want := len(leech.Pieces()), seed.Status().NumPieces; got != want {
		t.Errorf("PieceStats reported %d pieces, the torrent has %d", got, want)
	}
	if s := seed.Status(); s.TotalPayloadUp < st.TotalWanted {
		t.Errorf("seeder uploaded %d, want >= %d", s.TotalPayloadUp, st.TotalWanted)
	}
}

// A live capture of a libtorrent -> libtorrent transfer decodes with zero
// malformed frames, and its frames were really taken by the dissector.
func TestCaptureLibtorrentTransfer(t *testing.T) {
	testutil.NeedLibtorrent(t)
	testutil.NeedTool(t, "tshark")
	for _, tc := range []struct {
		name   string
		utp    bool
		proto  string
		decode string
	}{
		{"tcp", false, "bittorrent", "tcp.port==%d,bittorrent"},
		{"utp", true, "bt-utp", "udp.port==%d,bt-utp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, torPath, _ := seedSetup(t, false, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sp, lp := testutil.FreePort(t, "127.0.0.2"), testutil.FreePort(t, "127.0.0.3")
			capt := StartCapture(t, "lo", fmt.Sprintf("port %d or port %d", sp, lp))
			seed := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.2", sp), Torrent: torPath, SavePath: root,
				Seed: true, TCP: !tc.utp, UTP: tc.utp, SocketBuffers: 4 << 20})
			if err := seed.WaitSeeding(ctx); err != nil {
				t.Fatal(err)
			}
			leech := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.3", lp), Torrent: torPath,
				TCP: !tc.utp, UTP: tc.utp, SocketBuffers: 4 << 20, Peers: []string{seed.Addr()}})
			if err := leech.WaitFinished(ctx); err != nil {
				t.Fatal(err)
			}
			st := seed.Status()
			seed.Stop()
			leech.Stop()
			r := CheckPcap(t, capt.Stop(), fmt.Sprintf(tc.decode, sp), fmt.Sprintf(tc.decode, lp))
			t.Log(r)
			// The transport the test asked for is the only one on the wire.
			if other := map[bool]string{false: "udp", true: "tcp"}[tc.utp]; r.Protocols[other] != 0 {
				t.Errorf("%d %s frames in a %s-only transfer", r.Protocols[other], other, tc.name)
			}
			r.Expect(t, tc.proto)
			// Loopback frames carry at most 64 KiB, so the payload alone needs this many.
			if floor := int(st.TotalWanted >> 16); r.Frames < floor {
				t.Errorf("only %d frames captured for a %d-byte transfer, want >= %d", r.Frames, st.TotalWanted, floor)
			}
		})
	}
}

func TestLibtorrentMagnet(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root, torPath, tor := seedSetup(t, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seed := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
		Torrent: torPath, SavePath: root, Seed: true})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	ih := InfoHash(t, tor)
	dl := t.TempDir()
	leech := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
		Magnet: fmt.Sprintf("magnet:?xt=urn:btih:%x", ih), SavePath: dl, Peers: []string{seed.Addr()}})
	if err := leech.WaitMetadata(ctx); err != nil {
		t.Fatal(err)
	}
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	leech.Stop()
	sameFiles(t, root, dl)
}

// libtorrent never chokes loopback peers unless ChokeLocal is set: with no
// unchoke slots at all, a local leecher is still served by default, and is
// kept choked with ChokeLocal.
func TestLibtorrentChokeLocal(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root, torPath, _ := seedSetup(t, false, nil)
	for _, chokeLocal := range []bool{false, true} {
		t.Run(fmt.Sprintf("ChokeLocal=%v", chokeLocal), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			seed := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.2", testutil.FreePort(t, "127.0.0.2")),
				Torrent: torPath, SavePath: root, Seed: true, ChokeLocal: chokeLocal,
				// allowed_fast_set_size 0: otherwise BEP 6 lets a choked peer
				// fetch a few "allowed fast" pieces anyway.
				Settings: map[string]any{"unchoke_slots_limit": 0, "num_optimistic_unchoke_slots": 0, "allowed_fast_set_size": 0}})
			if err := seed.WaitSeeding(ctx); err != nil {
				t.Fatal(err)
			}
			leech := StartLibtorrent(t, LTConfig{Listen: testutil.Addr("127.0.0.3", testutil.FreePort(t, "127.0.0.3")),
				Torrent: torPath, Peers: []string{seed.Addr()}})
			if !chokeLocal {
				if err := leech.WaitFinished(ctx); err != nil {
					t.Fatalf("local peer not served without ChokeLocal: %v", err)
				}
				return
			}
			// Wait for the connection, then give the seeder a few rechoke
			// rounds (15 s apart by default, but the first runs at connect)
			// to unchoke; it must not.
			if _, err := leech.WaitStatus(ctx, func(st LTStatus) bool {
				return len(st.Peers) > 0 && st.Peers[0].WeInterested
			}); err != nil {
				t.Fatalf("leecher never connected and became interested: %v", err)
			}
			hold, cancelHold := context.WithTimeout(ctx, 3*time.Second)
			defer cancelHold()
			if err := leech.WaitFinished(hold); err == nil {
				t.Fatal("leecher finished although the seeder has no unchoke slots and ChokeLocal is set")
			}
			st := leech.Status()
			if len(st.Peers) != 1 || !st.Peers[0].TheyChoke || st.TotalPayloadDown != 0 {
				t.Errorf("want the one peer choking us and nothing downloaded; got %+v", st)
			}
		})
	}
}
