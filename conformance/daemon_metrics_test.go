package conformance

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/internal/ledgertest"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/wire/metainfo"
)

// ledgerCalls reads btt_ledger_call_seconds_count for a kind and outcome (0 when absent).
func ledgerCalls(t testing.TB, text, kind, outcome string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^btt_ledger_call_seconds_count\{kind="` + kind + `",outcome="` + outcome + `"\} (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDaemonMetricsMoved: btt daemon sells a torrent under Speed with a wallet on a real
// btt-ledger, and a paying requester (a peer session with its own funded wallet) buys it.
// /metrics, accepted by promtool, then shows the counters that moved: choke rounds and the
// peers they unchoked, and the ledger calls by kind (the wallet's balance, the payer's
// channel checked before serving on credit, the channel closed to settle once the
// requester left), each with its latency histogram.
func TestDaemonMetricsMoved(t *testing.T) {
	testutil.NeedTool(t, "transmission-remote")
	promtool := testutil.NeedTool(t, "promtool")
	url, cl, treasury := startLedger(t)
	ctx := ctxFor(t, 2*time.Minute)

	sellerKey := ledgertest.FundedKey(t, cl, treasury, 0)
	walletFile := filepath.Join(t.TempDir(), "seller.key")
	if err := wallet.Save(walletFile, sellerKey, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	const size = 8 << 20
	raw := thirdparty.CreateTorrent(t, src, "epsilon.bin", size, 64<<10)
	torrent := filepath.Join(t.TempDir(), "epsilon.torrent")
	if err := os.WriteFile(torrent, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ih := mi.Info.Hash()
	hash := hex.EncodeToString(ih[:])

	d := startBTDaemon(t, t.TempDir(), "--speed", "--wallet", walletFile, "--ledger", url, "--password-file", pwFile,
		"--reserve-grace", "1ns", "--reserve-start", "1", "--reserve-cap", "1", "--rechoke", "300ms")
	d.remoteOK("-a", torrent, "-w", src)
	d.waitRow(ctx, 1, "seeding", func(r listRow) bool { return r.Done == "100%" })
	d.remoteOK("-u", "2000") // 2 MB/s: the buyer pays several vouchers before it is done

	funds := uint64(10 * bidext.UnitsPerBTT)
	buyerKey := ledgertest.FundedKey(t, cl, treasury, funds)
	buyer := startSessionCfg(t, "127.0.0.2", peer.Config{Speed: speedWith(buyerKey, url, funds)})
	bt := addTorrent(t, buyer, mi, t.TempDir(), d.listen)
	select {
	case <-bt.Complete():
	case <-ctx.Done():
		t.Fatalf("the paying buyer did not complete: %+v", bt.Stats())
	}
	if st := bt.Stats(); st.PaymentAcks == 0 {
		t.Fatalf("the buyer completed without a payment acknowledged: %+v", st)
	}
	buyer.Close() // the daemon settles the channel on the ledger

	var text string
	for {
		text = d.metrics()
		if ledgerCalls(t, text, "close_channel", "ok") > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no close_channel call counted after the buyer left:\n%s", grepLines(text, "btt_ledger_call_seconds_count"))
		case <-time.After(200 * time.Millisecond):
		}
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(text)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	t.Logf("ledger calls:\n%s", grepLines(text, "btt_ledger_call_seconds_count"))
	for _, kind := range []string{"balance", "channel", "close_channel"} {
		n := ledgerCalls(t, text, kind, "ok")
		if n == 0 {
			t.Errorf("btt_ledger_call_seconds_count{kind=%q,outcome=\"ok\"} did not move", kind)
		}
		// The histogram's +Inf bucket holds every call.
		inf := regexp.MustCompile(`(?m)^btt_ledger_call_seconds_bucket\{kind="` + kind + `",outcome="ok",le="\+Inf"\} (\S+)$`).FindStringSubmatch(text)
		if inf == nil || inf[1] != strconv.FormatFloat(n, 'f', -1, 64) {
			t.Errorf("%s: +Inf bucket %v, count %v", kind, inf, n)
		}
	}
	rounds := metricValue(t, text, "btt_torrent_choke_rounds_total", hash)
	unchoked := metricValue(t, text, "btt_torrent_choke_unchoked_total", hash)
	t.Logf("%v choke rounds unchoked %v peers in all", rounds, unchoked)
	if rounds == 0 || unchoked == 0 {
		t.Errorf("choke rounds %v, peers unchoked over them %v: want both to have moved", rounds, unchoked)
	}
	if v := metricValue(t, text, "btt_speed_earned_units_total", hash); v == 0 {
		t.Error("btt_speed_earned_units_total did not move")
	}
}

// grepLines returns the lines of text that start with prefix.
func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
