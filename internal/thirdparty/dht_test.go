package thirdparty

import (
	"context"
	"crypto/sha1"
	"fmt"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
)

// A leecher that knows only a magnet link and DHT nodes finds the seeder
// through libtorrent's DHT on loopback. The third session is a plain DHT node
// (it waits for an unrelated torrent) so the announce and the lookup have a
// node other than the two peers to meet at.
func TestLibtorrentDHT(t *testing.T) {
	testutil.NeedLibtorrent(t)
	root, torPath, tor := seedSetup(t, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	addr := func(ip string) string { return testutil.Addr(ip, testutil.FreePort(t, ip)) }
	nodeAddr, seedAddr, leechAddr := addr("127.0.0.6"), addr("127.0.0.2"), addr("127.0.0.3")
	other := sha1.Sum([]byte("unrelated torrent"))
	StartLibtorrent(t, LTConfig{Listen: nodeAddr, Magnet: fmt.Sprintf("magnet:?xt=urn:btih:%x", other),
		DHT: LTDHT{Enable: true, Nodes: []string{seedAddr, leechAddr}}})
	seed := StartLibtorrent(t, LTConfig{Listen: seedAddr, Torrent: torPath, SavePath: root, Seed: true,
		DHT: LTDHT{Enable: true, Nodes: []string{nodeAddr}}})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	dl := t.TempDir()
	leech := StartLibtorrent(t, LTConfig{Listen: leechAddr, Magnet: fmt.Sprintf("magnet:?xt=urn:btih:%x", InfoHash(t, tor)),
		SavePath: dl, DHT: LTDHT{Enable: true, Nodes: []string{nodeAddr}}})
	start := time.Now()
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("found the seeder through the DHT and finished in %v", time.Since(start))
	leech.Stop() // libtorrent may still hold written blocks when it reports finished
	sameFiles(t, root, dl)
}
