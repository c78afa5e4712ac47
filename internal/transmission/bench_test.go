package transmission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/daemon"
	"github.com/speedbt/btt/internal/thirdparty"
)

// listFields is what `transmission-remote -l` asks for.
var listFields = []string{"error", "errorString", "eta", "id", "isFinished", "leftUntilDone", "name",
	"peersGettingFromUs", "peersSendingToUs", "rateDownload", "rateUpload", "sizeWhenDone", "status", "uploadRatio"}

// BenchmarkTorrentList measures a full torrent-get of `transmission-remote -l`'s fields over
// HTTP with 10 and with 1,000 idle (seeding, no peers) torrents, and the process's resident
// memory once the 1,000 run. Compare the two sizes within one run; the figures of a loaded
// machine mean little alone.
//
//	unshare -n sh -c 'ip link set lo up && exec go test -run ^$ -bench TorrentList -benchtime 200x ./internal/transmission/'
func BenchmarkTorrentList(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("torrents=%d", n), func(b *testing.B) {
			runtime.GC()
			rssBefore := rssKiB(b)
			d, s, hs := newTestServer(b, Config{})
			data := b.TempDir()
			for i := range n {
				raw := thirdparty.CreateTorrent(b, data, fmt.Sprintf("t%04d.bin", i), 16<<10, 16<<10)
				if _, err := d.Add(daemon.AddRequest{Metainfo: raw, DownloadDir: data}); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(5 * time.Minute)
			for seeding(d) < n {
				if time.Now().After(deadline) {
					b.Fatalf("only %d of %d torrents seeding", seeding(d), n)
				}
				time.Sleep(50 * time.Millisecond)
			}
			runtime.GC()
			rss := rssKiB(b)
			body, _ := json.Marshal(map[string]any{"method": "torrent-get", "arguments": map[string]any{"fields": listFields}})
			b.ResetTimer()
			for range b.N {
				req, _ := http.NewRequest("POST", hs.URL+"/transmission/rpc", bytes.NewReader(body))
				req.Header.Set(SessionIDHeader, s.SessionID())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var out struct {
					Result    string
					Arguments struct{ Torrents []json.RawMessage }
				}
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || out.Result != "success" || len(out.Arguments.Torrents) != n {
					b.Fatalf("torrent-get: %v %q %d torrents", err, out.Result, len(out.Arguments.Torrents))
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(rss)/1024, "rss-MiB")
			b.ReportMetric(float64(rss-rssBefore)/float64(n), "rss-KiB/torrent")
		})
	}
}

func seeding(d *daemon.Daemon) int {
	n := 0
	for _, v := range d.Torrents(nil, false) {
		if v.Status == daemon.StatusSeed {
			n++
		}
	}
	return n
}

// rssKiB reads the process's resident set from /proc.
func rssKiB(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}
