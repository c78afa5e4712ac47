package conformance

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/peer/mse"
	"github.com/speedbt/btt/wire/metainfo"
)

// plainProtocol is the byte string every plaintext BitTorrent handshake starts with, as a
// tshark display-filter byte sequence ("\x13BitTorrent protocol").
const plainProtocol = "13:42:69:74:54:6f:72:72:65:6e:74:20:70:72:6f:74:6f:63:6f:6c"

// encCapture captures one port of our session (TCP or UDP) for the MSE checks.
type encCapture struct {
	t     *testing.T
	live  *thirdparty.Capture
	pcap  string
	proto string
	port  int
}

func startEncCapture(t *testing.T, proto string, port int) *encCapture {
	t.Helper()
	testutil.NeedTool(t, "tshark")
	c := &encCapture{t: t, proto: proto, port: port,
		live: thirdparty.StartCapture(t, "lo", fmt.Sprintf("%s port %d", proto, port))}
	time.Sleep(500 * time.Millisecond) // see startUDPCapture: the first packets can be missed
	return c
}

// tshark runs tshark on the capture with a display filter and returns one line per frame.
func (c *encCapture) tshark(filter, field string) []string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"-r", c.pcap, "-d", fmt.Sprintf("udp.port==%d,bt-utp", c.port), "-T", "fields", "-e", field}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	out, err := exec.CommandContext(ctx, testutil.NeedTool(c.t, "tshark"), args...).Output()
	if err != nil {
		c.t.Fatalf("tshark: %v", err)
	}
	return strings.Fields(string(out))
}

// plainHandshakes stops the capture and returns how many frames carry a plaintext
// BitTorrent handshake. So that zero is not vacuous, it first checks that the capture holds
// the opening of a connection (a TCP SYN, or a uTP ST_SYN), where handshakes are, and a good
// part of the payload (dumpcap drops some 64 KiB loopback frames under load, so not all).
func (c *encCapture) plainHandshakes(payload int64) int {
	c.t.Helper()
	c.pcap = c.live.Stop()
	var total int64
	for _, l := range c.tshark("", "frame.len") {
		n, _ := strconv.ParseInt(l, 10, 64)
		total += n
	}
	if total < payload/4 {
		c.t.Fatalf("capture holds %d bytes of a %d-byte payload: it missed the transfer", total, payload)
	}
	syn := "tcp.flags.syn==1 && tcp.flags.ack==0"
	if c.proto == "udp" {
		syn = "bt-utp.type==4"
	}
	if len(c.tshark(syn, "frame.number")) == 0 {
		c.t.Fatalf("capture holds no connection opening (%s)", syn)
	}
	return len(c.tshark("frame contains "+plainProtocol, "frame.number"))
}

func (c *encCapture) expectEncrypted(payload int64) {
	c.t.Helper()
	if n := c.plainHandshakes(payload); n != 0 {
		c.t.Errorf("tshark: %d frames carry a plaintext BitTorrent handshake", n)
	}
}

type mseTransport struct {
	name  string
	proto string // capture filter protocol
	ours  peer.Transport
}

var mseTransports = []mseTransport{{"tcp", "tcp", peer.TransportTCP}, {"utp", "udp", peer.TransportUTP}}

func encSession(t *testing.T, ip string, tr peer.Transport, p mse.Policy) *peer.Session {
	return startSessionCfg(t, ip, peer.Config{Transport: tr, Encryption: p, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))})
}

func sessionPort(s *peer.Session) int {
	ap, _ := net.ResolveTCPAddr("tcp", s.Addr().String())
	return ap.Port
}

func addrPort(t *testing.T, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func totalLength(mi *metainfo.MetaInfo) int64 { return mi.Info.TotalLength }

// TestMSELibtorrent: libtorrent with encryption forced (pe_forced both ways, RC4 only)
// downloads from our seeder that requires encryption (libtorrent dials: our responder), and
// we download from such a libtorrent seeder (we dial: our initiator), over TCP and over uTP.
// tshark finds no plaintext handshake on our port in any of them.
func TestMSELibtorrent(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makePaddedTorrent(t, dir, "mse-lt", engineFiles, 256<<10)
	for i, tr := range mseTransports {
		t.Run(tr.name+"/libtorrent downloads from us", func(t *testing.T) {
			seeder := encSession(t, fmt.Sprintf("127.0.1.%d", 1+4*i), tr.ours, mse.Require)
			addTorrent(t, seeder, mi, dir)
			capture := startEncCapture(t, tr.proto, sessionPort(seeder))
			ip := fmt.Sprintf("127.0.1.%d", 2+4*i)
			out := t.TempDir()
			lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
				Listen: testutil.Addr(ip, testutil.FreeUDPPort(t, ip)), Torrent: torrentPath, SavePath: out,
				TCP: tr.name == "tcp", UTP: tr.name == "utp", SocketBuffers: 4 << 20,
				Encryption: thirdparty.LTRequireRC4, Peers: []string{seeder.Addr().String()},
			})
			if err := lt.WaitFinished(ctxFor(t, 90*time.Second)); err != nil {
				t.Fatalf("libtorrent: %v (status %+v)", err, lt.Status())
			}
			lt.Stop()
			sameContent(t, mi.Info, dir, out)
			capture.expectEncrypted(totalLength(mi))
		})
		t.Run(tr.name+"/we download from libtorrent", func(t *testing.T) {
			ip := fmt.Sprintf("127.0.1.%d", 3+4*i)
			lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
				Listen: testutil.Addr(ip, testutil.FreeUDPPort(t, ip)), Torrent: torrentPath, SavePath: dir, Seed: true,
				TCP: tr.name == "tcp", UTP: tr.name == "utp", SocketBuffers: 4 << 20,
				Encryption: thirdparty.LTRequireRC4,
			})
			if err := lt.WaitSeeding(ctxFor(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			capture := startEncCapture(t, tr.proto, lt.Port())
			leecher := encSession(t, fmt.Sprintf("127.0.1.%d", 4+4*i), tr.ours, mse.Require)
			out := t.TempDir()
			tor := addTorrent(t, leecher, mi, out, lt.Addr())
			waitOurs(t, tor, 90*time.Second)
			sameContent(t, mi.Info, dir, out)
			capture.expectEncrypted(totalLength(mi))
		})
	}
}

// TestMSETransmission: Transmission with encryption required ("encryption": 2). It cannot
// dial, so we dial it both as its seeder and as its leecher; over TCP and over uTP.
func TestMSETransmission(t *testing.T) {
	dir := t.TempDir()
	// No pad files: Transmission 3.00 does not implement BEP 47 (see TestTransmissionSeederToUs).
	mi, torrentPath := makeTorrent(t, dir, "mse-tr", engineFiles, 64<<10, false)
	for i, tr := range mseTransports {
		t.Run(tr.name+"/transmission downloads from us", func(t *testing.T) {
			ip := fmt.Sprintf("127.0.2.%d", 1+4*i)
			trc := thirdparty.StartTransmission(t, thirdparty.TransmissionConfig{
				Listen: testutil.Addr(ip, testutil.FreePort(t, ip)), Torrent: torrentPath,
				UTP: tr.name == "utp", Encryption: 2,
			})
			seeder := encSession(t, fmt.Sprintf("127.0.2.%d", 2+4*i), tr.ours, mse.Require)
			capture := startEncCapture(t, tr.proto, addrPort(t, trc.Addr())) // we dial it
			addTorrent(t, seeder, mi, dir, trc.Addr())
			if err := trc.WaitFinished(ctxFor(t, 120*time.Second)); err != nil {
				t.Fatalf("transmission: %v", err)
			}
			sameContent(t, mi.Info, dir, trc.Dir())
			capture.expectEncrypted(totalLength(mi))
		})
		t.Run(tr.name+"/we download from transmission", func(t *testing.T) {
			ip := fmt.Sprintf("127.0.2.%d", 3+4*i)
			trc := thirdparty.StartTransmission(t, thirdparty.TransmissionConfig{
				Listen: testutil.Addr(ip, testutil.FreePort(t, ip)), Torrent: torrentPath, Dir: dir,
				Verify: true, UTP: tr.name == "utp", Encryption: 2,
			})
			leecher := encSession(t, fmt.Sprintf("127.0.2.%d", 4+4*i), tr.ours, mse.Require)
			capture := startEncCapture(t, tr.proto, addrPort(t, trc.Addr()))
			out := t.TempDir()
			tor := addTorrent(t, leecher, mi, out)
			redialUntilComplete(t, tor, trc.Addr(), 120*time.Second)
			sameContent(t, mi.Info, dir, out)
			capture.expectEncrypted(totalLength(mi))
		})
	}
}

// redialUntilComplete gives tor the peer every two seconds (a seeder that is still checking
// its data refuses us) until tor completes.
func redialUntilComplete(t *testing.T, tor *peer.Torrent, addr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if err := tor.AddPeers(addr); err != nil {
			t.Fatal(err)
		}
		select {
		case <-tor.Complete():
			return
		case <-time.After(2 * time.Second):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not complete from %s: %+v", addr, tor.Stats())
		}
	}
}

// TestMSEAria2: aria2 with --bt-require-crypto (and RC4 as its minimum level), TCP only (aria2
// has no uTP). It cannot dial either: we dial it as its seeder and as its leecher.
func TestMSEAria2(t *testing.T) {
	dir := t.TempDir()
	// No pad files: aria2 seeding looks for them on disk (as Transmission does).
	mi, torrentPath := makeTorrent(t, dir, "mse-ar", engineFiles, 256<<10, false)
	requireCrypto := []string{"--bt-require-crypto=true", "--bt-min-crypto-level=arc4"}
	t.Run("aria2 downloads from us", func(t *testing.T) {
		ar := thirdparty.StartAria2(t, thirdparty.Aria2Config{
			Listen: testutil.Addr("127.0.3.1", testutil.FreePort(t, "127.0.3.1")), Torrent: torrentPath, Args: requireCrypto,
		})
		seeder := encSession(t, "127.0.3.2", peer.TransportTCP, mse.Require)
		capture := startEncCapture(t, "tcp", addrPort(t, ar.Addr())) // we dial it
		addTorrent(t, seeder, mi, dir, ar.Addr())
		if err := ar.WaitFinished(ctxFor(t, 90*time.Second)); err != nil {
			t.Fatalf("aria2: %v", err)
		}
		sameContent(t, mi.Info, dir, ar.Dir())
		capture.expectEncrypted(totalLength(mi))
	})
	t.Run("we download from aria2", func(t *testing.T) {
		ar := thirdparty.StartAria2(t, thirdparty.Aria2Config{
			Listen: testutil.Addr("127.0.3.3", testutil.FreePort(t, "127.0.3.3")), Torrent: torrentPath,
			Dir: dir, Seed: true, Args: requireCrypto,
		})
		leecher := encSession(t, "127.0.3.4", peer.TransportTCP, mse.Require)
		capture := startEncCapture(t, "tcp", addrPort(t, ar.Addr()))
		out := t.TempDir()
		tor := addTorrent(t, leecher, mi, out)
		redialUntilComplete(t, tor, ar.Addr(), 90*time.Second)
		sameContent(t, mi.Info, dir, out)
		capture.expectEncrypted(totalLength(mi))
	})
}

// TestMSEPreferServesPlain: under "prefer", a libtorrent with encryption disabled still
// downloads from our seeder (its plaintext handshake is accepted; the capture shows it, which
// also proves the oracle of the other tests sees plaintext handshakes), and our prefer leecher
// downloads from a plaintext-only libtorrent seeder (MSE refused, plaintext retried).
func TestMSEPreferServesPlain(t *testing.T) {
	testutil.NeedLibtorrent(t)
	dir := t.TempDir()
	mi, torrentPath := makePaddedTorrent(t, dir, "mse-prefer", engineFiles, 256<<10)
	t.Run("plain libtorrent downloads from us", func(t *testing.T) {
		seeder := encSession(t, "127.0.4.1", peer.TransportTCP, mse.Prefer)
		addTorrent(t, seeder, mi, dir)
		capture := startEncCapture(t, "tcp", sessionPort(seeder))
		out := t.TempDir()
		lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
			Listen: testutil.Addr("127.0.4.2", testutil.FreePort(t, "127.0.4.2")), Torrent: torrentPath, SavePath: out,
			TCP: true, Peers: []string{seeder.Addr().String()},
		})
		if err := lt.WaitFinished(ctxFor(t, 60*time.Second)); err != nil {
			t.Fatalf("libtorrent: %v (status %+v)", err, lt.Status())
		}
		lt.Stop()
		sameContent(t, mi.Info, dir, out)
		if n := capture.plainHandshakes(totalLength(mi)); n == 0 {
			t.Error("tshark saw no plaintext handshake from the plaintext peer")
		}
	})
	t.Run("we download from plain libtorrent", func(t *testing.T) {
		lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
			Listen: testutil.Addr("127.0.4.3", testutil.FreePort(t, "127.0.4.3")), Torrent: torrentPath,
			SavePath: dir, Seed: true, TCP: true,
		})
		if err := lt.WaitSeeding(ctxFor(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		leecher := encSession(t, "127.0.4.4", peer.TransportTCP, mse.Prefer)
		out := t.TempDir()
		tor := addTorrent(t, leecher, mi, out, lt.Addr())
		waitOurs(t, tor, 60*time.Second)
		sameContent(t, mi.Info, dir, out)
	})
	t.Run("libtorrent enabled gets rc4 from our prefer seeder", func(t *testing.T) {
		seeder := encSession(t, "127.0.4.5", peer.TransportTCP, mse.Prefer)
		addTorrent(t, seeder, mi, dir)
		capture := startEncCapture(t, "tcp", sessionPort(seeder))
		out := t.TempDir()
		// libtorrent's default policy (pe_enabled, both levels) dials with MSE offering both;
		// our responder picks RC4.
		lt := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{
			Listen: testutil.Addr("127.0.4.6", testutil.FreePort(t, "127.0.4.6")), Torrent: torrentPath, SavePath: out,
			TCP: true, Peers: []string{seeder.Addr().String()}, Encryption: thirdparty.LTEnabled,
		})
		if err := lt.WaitFinished(ctxFor(t, 60*time.Second)); err != nil {
			t.Fatalf("libtorrent: %v (status %+v)", err, lt.Status())
		}
		lt.Stop()
		sameContent(t, mi.Info, dir, out)
		capture.expectEncrypted(totalLength(mi))
	})
}

// tsharkDecoded is like tshark with the BitTorrent dissector on port: one line per
// matching frame.
func (c *encCapture) tsharkDecoded(port int, filter string) []string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"-r", c.pcap, "-d", fmt.Sprintf("tcp.port==%d,bittorrent", port), "-T", "fields", "-e", "frame.number", "-Y", filter}
	out, err := exec.CommandContext(ctx, testutil.NeedTool(c.t, "tshark"), args...).Output()
	if err != nil {
		c.t.Fatalf("tshark: %v", err)
	}
	return strings.Fields(string(out))
}
