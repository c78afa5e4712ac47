package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
)

// TestCompareStores is the side-by-side measurement of issue 13, not a test of speed (it
// asserts nothing about timings): it starts btt-ledger on bbolt and on a private PostgreSQL
// server, runs the same `btt-ledger bench` loads against each, interleaved, and logs one
// table. Run it alone (it loads the machine for a few minutes):
//
//	BTT_LEDGER_COMPARE=1 go test -count=1 -v -run CompareStores ./cmd/btt-ledger/
//
// BTT_LEDGER_COMPARE_OPS scales the operation counts (default 1.0). BTT_LEDGER_COMPARE_BIN
// runs a prebuilt btt-ledger (another commit's, for before and after in one session) instead
// of building this tree's.
func TestCompareStores(t *testing.T) {
	if os.Getenv("BTT_LEDGER_COMPARE") == "" {
		t.Skip("measurement; set BTT_LEDGER_COMPARE=1 to run it")
	}
	scale := 1.0
	if s := os.Getenv("BTT_LEDGER_COMPARE_OPS"); s != "" {
		scale, _ = strconv.ParseFloat(s, 64)
	}
	bin := os.Getenv("BTT_LEDGER_COMPARE_BIN")
	if bin == "" {
		bin = testutil.BuildCmd(t, "btt-ledger")
	}
	pg := testutil.StartPostgres(t)
	dir := t.TempDir()
	type server struct {
		name, db, treasury, url string
	}
	servers := []*server{
		{name: "bbolt", db: filepath.Join(dir, "l.db"), treasury: filepath.Join(dir, "l.db.treasury.json")},
		{name: "postgres", db: pg.URL, treasury: filepath.Join(dir, "pg.treasury.json")},
	}
	for _, s := range servers {
		addr := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
		s.url = "http://" + addr
		cmd := exec.Command(bin, "--listen", addr, "--db", s.db, "--treasury-key", s.treasury, "--rate-limit", "0")
		var log bytes.Buffer
		cmd.Stderr = &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(s.url + "/v1/info")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s ledger did not come up: %v", s.name, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	n := func(ops int) string { return strconv.Itoa(max(100, int(float64(ops)*scale))) }
	loads := []struct {
		name string
		args []string
	}{
		{"transfers, 1/request, 64 conns", []string{"--mix", "transfer", "--concurrency", "64", "--ops", n(8000)}},
		{"opens+closes, 1/request, 64 conns", []string{"--mix", "channel", "--concurrency", "64", "--ops", n(6000)}},
		{"transfers, batches of 48, 4 conns", []string{"--mix", "transfer", "--concurrency", "4", "--batch", "48", "--ops", n(20000)}},
		{"opens+closes, batches of 48, 4 conns", []string{"--mix", "channel", "--concurrency", "4", "--batch", "48", "--ops", n(12000)}},
		{"transfers, 1/request, 16 conns, no readers", []string{"--mix", "transfer", "--concurrency", "16", "--ops", n(4000)}},
		{"transfers, 1/request, 16 conns, 300 readers", []string{"--mix", "transfer", "--concurrency", "16", "--ops", n(4000), "--readers", "300"}},
	}
	re := regexp.MustCompile(`throughput: (\d+) ops/s\nlatency: p50=(\S+) p90=\S+ p99=(\S+)`)
	reads := regexp.MustCompile(`reads: \d+ readers, (\d+) reads/s`)
	var table strings.Builder
	fmt.Fprintf(&table, "\n| load | store | ops/s | p50 | p99 | reads/s |\n|---|---|---|---|---|---|\n")
	for _, l := range loads {
		for _, s := range servers {
			args := append([]string{"bench", "--ledger", s.url, "--treasury-key", s.treasury}, l.args...)
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s on %s: %v\n%s", l.name, s.name, err, out)
			}
			m := re.FindSubmatch(out)
			if m == nil {
				t.Fatalf("unparsed bench output:\n%s", out)
			}
			r := "-"
			if rm := reads.FindSubmatch(out); rm != nil {
				r = string(rm[1])
			}
			fmt.Fprintf(&table, "| %s | %s | %s | %s | %s | %s |\n", l.name, s.name, m[1], m[2], m[3], r)
		}
	}
	t.Log(table.String())
}
