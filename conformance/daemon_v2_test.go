package conformance

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
)

// TestDaemonV2 drives `btt daemon` with transmission-remote on a v2-only torrent that
// libtorrent 2.0.8 seeds: added as a .torrent (the piece layers come with it) and, to a
// second daemon, as a btmh-only magnet link (the info dictionary and the piece layers come
// from libtorrent). Both complete with the right bytes and report the hash the torrent is
// known by on the wire, the SHA-256 info-hash truncated to 20 bytes. The magnet's daemon
// then restarts with libtorrent gone and finds every piece on disk: it kept the piece
// layers it fetched, without which no v2 piece can be checked.
func TestDaemonV2(t *testing.T) {
	testutil.NeedTool(t, "transmission-remote")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mi, path, dir, lt := ltSeedsV2(t, false)
	ih := mi.InfoHash()
	h2, _ := mi.InfoHashV2()
	wantHash := hex.EncodeToString(ih[:])
	if wantHash != hex.EncodeToString(h2[:20]) {
		t.Fatalf("a v2-only torrent's info-hash %s is not its truncated v2 hash %x", wantHash, h2[:20])
	}
	complete := func(r listRow) bool { return r.Done == "100%" && (r.Status == "Idle" || r.Status == "Seeding") }
	checkHash := func(d *btDaemon) {
		t.Helper()
		if got := d.torrent(1, "hashString")["hashString"]; got != wantHash {
			t.Errorf("hashString %v, want %s", got, wantHash)
		}
		if info := d.remote("-t", "1", "-i"); !strings.Contains(info, "Hash: "+wantHash) {
			t.Errorf("transmission-remote -t 1 -i lacks the hash %s:\n%s", wantHash, info)
		}
	}

	t.Run("torrent", func(t *testing.T) {
		d := startBTDaemon(t, t.TempDir())
		dl := t.TempDir()
		d.remoteOK("-a", path, "-w", dl)
		lt.ConnectPeer(d.listen)
		d.waitRow(ctx, 1, "complete", complete)
		sameContent(t, mi.Info, dir, dl)
		checkHash(d)
		// Stopped and started, it checks its files against the piece layers again.
		d.remoteOK("-t", "1", "-S")
		d.waitRow(ctx, 1, "stopped", func(r listRow) bool { return r.Status == "Stopped" })
		d.remoteOK("-t", "1", "-s")
		d.waitRow(ctx, 1, "seeding again", complete)
	})

	t.Run("magnet", func(t *testing.T) {
		d := startBTDaemon(t, t.TempDir())
		dl := t.TempDir()
		d.remoteOK("-a", fmt.Sprintf("magnet:?xt=urn:btmh:1220%x&dn=v2content&x.pe=%s", h2, lt.Addr()), "-w", dl)
		d.waitRow(ctx, 1, "complete", complete)
		sameContent(t, mi.Info, dir, dl)
		checkHash(d)
		if got := d.torrent(1, "name")["name"]; got != mi.Info.Name {
			t.Errorf("name after metadata %v, want %s", got, mi.Info.Name)
		}
		if err := d.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("SIGTERM: %v", err)
		}
		lt.Stop()
		d.start()
		d.waitRow(ctx, 1, "complete after restart with no peer", complete)
		pieces := d.torrent(1, "btt")["btt"].(map[string]any)["stats"].(map[string]any)["PiecesDone"].(float64)
		if want := float64(mi.Info.NumPieces()); pieces != want {
			t.Errorf("after restart %v of %v pieces verified", pieces, want)
		}
	})
}
