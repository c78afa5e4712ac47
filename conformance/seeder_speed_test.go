package conformance

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/wallet"
	"github.com/speedbt/btt/internal/ledgertest"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
)

// TestSpeedSeederPaid: btt-seeder with --speed --wallet --ledger serves a folder to our
// bidding leechers, is paid through channels on a real btt-ledger, prints its earnings per
// torrent, and when stopped settles: its ledger balance is what the leechers paid.
func TestSpeedSeederPaid(t *testing.T) {
	url, cl, treasury := startLedger(t)
	const btt = bidext.UnitsPerBTT
	seedKey := ledgertest.FundedKey(t, cl, treasury, 0)
	keyFile := filepath.Join(t.TempDir(), "seeder.key")
	if err := wallet.Save(keyFile, seedKey, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mi, _ := makeTorrent(t, dir, "sold", []thirdparty.File{{Path: "s.bin", Size: 4 << 20}}, 64<<10, false)
	bin := testutil.BuildCmd(t, "btt-seeder")
	addr := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
	cmd := exec.Command(bin, "--dir", dir, "--listen", addr, "--speed", "--wallet", keyFile, "--ledger", url,
		"--reserve-cap", "0", "--slots", "2", "--upload-limit", "2000000", "--rechoke", "300ms", "--report", "1s")
	logPath := startBackground(t, cmd)
	waitLog(t, logPath, "serving sold", 30*time.Second)

	var leechers []*peer.Torrent
	var sessions []*peer.Session
	var outs []string
	for i, f := range []uint64{500 * btt, 1000 * btt, 2000 * btt} {
		k := ledgertest.FundedKey(t, cl, treasury, f)
		s := startSessionCfg(t, "127.0.0."+string(rune('2'+i)), peer.Config{Speed: speedWith(k, url, f)})
		out := t.TempDir()
		outs = append(outs, out)
		leechers = append(leechers, addTorrent(t, s, mi, out, addr))
		sessions = append(sessions, s)
	}
	for i, l := range leechers {
		waitOurs(t, l, 2*time.Minute)
		sameContent(t, mi.Info, dir, outs[i])
	}
	ackDeadline := time.Now().Add(10 * time.Second)
	var spent int64
	for _, l := range leechers {
		for l.Stats().PaymentAcks < l.Stats().VouchersSent && time.Now().Before(ackDeadline) {
			time.Sleep(20 * time.Millisecond)
		}
		spent += l.Stats().Spent
	}
	if spent == 0 {
		t.Fatal("the leechers paid nothing: the seeder's auction or payments did not run")
	}
	waitLog(t, logPath, "earnings sold: earned ", 10*time.Second)
	// The seeder stops; it settles the channels of the leechers still connected.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	final := waitLog(t, logPath, "final sold: ", 30*time.Second)
	want := "final sold: earned " + channel.FormatBTT(uint64(spent)) + " BTT, settled " + channel.FormatBTT(uint64(spent)) + " BTT"
	if !strings.Contains(final, want) {
		t.Errorf("seeder output lacks %q:\n%s", want, final)
	}
	if got := balanceOf(t, cl, seedKey.Address()); got != uint64(spent) {
		t.Errorf("seeder's ledger balance %d, the leechers paid %d", got, spent)
	}
	for _, s := range sessions {
		s.Close()
	}
}

// waitLog waits until the file at path contains want and returns its content.
func waitLog(t *testing.T, path, want string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		out := readFile(t, path)
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after %v in:\n%s", want, d, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
