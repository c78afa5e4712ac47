package conformance

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/speedbt/btt/dht/krpc"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
	"github.com/speedbt/btt/wire/tracker"
)

// The hostile-peer suite (issue 12): raw-socket attackers, one class at a time, against a
// real `btt seed` process, while an honest peer (our session, on another address) downloads
// from it. Each attack asserts bounds on the victim's resident memory and goroutines (read
// from /proc and from its --debug-listen endpoint) measured against the same download
// without an attack in the same run, and that the honest download completes. The figures
// are logged as ratios: the machine is shared, so no timing is asserted.

// Bounds the victim must keep under attack, above its peak during the plain download.
const (
	hostileRSSSlack        = 96 << 20 // resident memory
	hostileGoroutinesSlack = 400      // goroutines: a few per attacking connection at most
)

// victim is a running `btt seed` and how to observe it.
type victim struct {
	pid   int
	addr  netip.AddrPort // TCP and UDP (uTP and DHT share the port)
	debug string
}

type victimSample struct {
	rss        int64
	goroutines int
	heap       uint64
}

func (v *victim) sample(t *testing.T) victimSample {
	var s victimSample
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", v.pid)); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if val, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
				s.rss = kb << 10
			}
		}
	}
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + v.debug + "/debug/runtime")
	if err != nil {
		t.Logf("victim debug endpoint: %v", err)
		return s
	}
	defer resp.Body.Close()
	var rs struct {
		Goroutines int    `json:"goroutines"`
		HeapAlloc  uint64 `json:"heap_alloc"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rs); err == nil {
		s.goroutines, s.heap = rs.Goroutines, rs.HeapAlloc
	}
	return s
}

// logGoroutines logs the start of the victim's grouped goroutine stacks.
func (v *victim) logGoroutines(t *testing.T) {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + v.debug + "/debug/goroutines")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	b := make([]byte, 6000)
	n, _ := io.ReadFull(resp.Body, b)
	t.Logf("victim goroutines now:\n%s", b[:n])
}

// watch samples v every 100 ms until stop is called, which returns the peaks.
func (v *victim) watch(t *testing.T) (stop func() victimSample) {
	done := make(chan struct{})
	peak := make(chan victimSample, 1)
	go func() {
		var p victimSample
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			s := v.sample(t)
			if s.goroutines > 2000 && p.goroutines <= 2000 {
				v.logGoroutines(t) // what a burst of goroutines is made of, at its height
			}
			p.rss, p.goroutines, p.heap = max(p.rss, s.rss), max(p.goroutines, s.goroutines), max(p.heap, s.heap)
			select {
			case <-done:
				peak <- p
				return
			case <-tick.C:
			}
		}
	}()
	return func() victimSample { close(done); return <-peak }
}

func startVictim(t *testing.T, torrent, dataDir string) *victim {
	t.Helper()
	btt := testutil.BuildCmd(t, "btt")
	port := testutil.FreePort(t, "127.0.0.1")
	debug := testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1"))
	addr := testutil.Addr("127.0.0.1", port)
	cmd := exec.Command(btt, "seed", torrent, "--data", dataDir, "--listen", addr, "--transport", "both",
		"--dht", "--debug-listen", debug, "--progress-interval", "1h")
	logPath := startBackground(t, cmd)
	deadline := time.Now().Add(time.Minute)
	for {
		if out, _ := os.ReadFile(logPath); strings.Contains(string(out), "seeding ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("victim seeder did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &victim{pid: cmd.Process.Pid, addr: netip.MustParseAddrPort(addr), debug: debug}
}

// honestDownload downloads mi from v with a fresh session on 127.0.0.2 (over tr) and
// returns how long it took; the session exists before start is called, so that an attack
// may aim at its address.
type honest struct {
	sess *peer.Session
	addr netip.AddrPort
}

func newHonest(t *testing.T, tr peer.Transport) *honest {
	t.Helper()
	sess, err := peer.NewSession(peer.Config{Listen: "127.0.0.2:0", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return &honest{sess: sess, addr: netip.MustParseAddrPort(sess.Addr().String())}
}

func (h *honest) download(t *testing.T, mi *metainfo.MetaInfo, from netip.AddrPort) time.Duration {
	t.Helper()
	start := time.Now()
	tor, err := h.sess.AddTorrent(mi.Info, peer.TorrentOptions{DataDir: t.TempDir(), Peers: []string{from.String()}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-tor.Complete():
	case <-time.After(3 * time.Minute):
		t.Fatalf("the honest peer did not complete under attack: %+v", tor.Stats())
	}
	return time.Since(start)
}

// rawHandshake exchanges BitTorrent handshakes for ih on nc from a fresh "-XX0001-" peer
// id, advertising the extension protocol (and the fast extension when fast). It closes nc
// when the exchange fails.
func rawHandshake(nc net.Conn, ih [20]byte, fast bool) error {
	h := wire.Handshake{InfoHash: ih}
	copy(h.PeerID[:], fmt.Sprintf("-XX0001-%012d", rand.Uint64()%1e12))
	h.Reserved.SetExtended(true)
	h.Reserved.SetFast(fast)
	if err := wire.WriteHandshake(nc, h); err != nil {
		nc.Close()
		return err
	}
	if _, err := wire.ReadHandshake(nc); err != nil {
		nc.Close()
		return err
	}
	return nil
}

// hostileConn dials v from ip as a peer of ih: BitTorrent handshake with the fast and
// extension bits, and the extended handshake ext.
func hostileConn(ctx context.Context, ip string, v netip.AddrPort, ih [20]byte, ext wire.ExtendedHandshake) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", v.String())
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := rawHandshake(nc, ih, true); err != nil {
		return nil, err
	}
	msg := wire.AppendMessage(nil, wire.Message{Type: wire.Extended, Payload: wire.AppendExtendedHandshake(nil, ext)})
	msg = wire.AppendMessage(msg, wire.Message{Type: wire.Interested})
	if _, err := nc.Write(msg); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}

// floodConns runs n attacking connections from ip until ctx ends, each redialled when
// the victim drops it. Each writes what next returns; with drain it reads (and discards)
// everything the victim sends, without it it never reads.
func floodConns(ctx context.Context, wg *sync.WaitGroup, n int, ip string, v netip.AddrPort, ih [20]byte, drain bool,
	ext wire.ExtendedHandshake, next func(r *rand.Rand) []byte) {
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 9))
			for ctx.Err() == nil {
				nc, err := hostileConn(ctx, ip, v, ih, ext)
				if err != nil {
					sleepCtx(ctx, 100*time.Millisecond)
					continue
				}
				stop := context.AfterFunc(ctx, func() { nc.Close() })
				if drain {
					go func() {
						buf := make([]byte, 64<<10)
						for {
							if _, err := nc.Read(buf); err != nil {
								return
							}
						}
					}()
				}
				for ctx.Err() == nil {
					nc.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := nc.Write(next(r)); err != nil {
						if ne, ok := err.(net.Error); ok && ne.Timeout() && !drain {
							continue // the victim stopped reading us: keep the connection, try again
						}
						break
					}
				}
				stop()
				nc.Close()
			}
		}()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// spoofer sends UDP datagrams with any source address through a raw socket (the suite
// runs as root in its own network namespace).
type spoofer struct{ fd int }

func newSpoofer(t *testing.T) *spoofer {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
	if err != nil {
		t.Fatalf("raw socket (the suite needs root in its network namespace): %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return &spoofer{fd: fd}
}

// send sends payload from src to dst, IPv4 only; the kernel fills the IP checksum and
// length, and a zero UDP checksum means none.
func (s *spoofer) send(src, dst netip.AddrPort, payload []byte) error {
	b := make([]byte, 28+len(payload))
	b[0], b[8], b[9] = 0x45, 64, syscall.IPPROTO_UDP
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d4[:])
	binary.BigEndian.PutUint16(b[20:], src.Port())
	binary.BigEndian.PutUint16(b[22:], dst.Port())
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	copy(b[28:], payload)
	return syscall.Sendto(s.fd, b, 0, &syscall.SockaddrInet4{Addr: d4})
}

// utpPacket is a bare uTP header (BEP 29) of type typ.
func utpPacket(typ byte, connID, seq, ack uint16) []byte {
	b := make([]byte, 20)
	b[0] = typ<<4 | 1
	binary.BigEndian.PutUint16(b[2:], connID)
	binary.BigEndian.PutUint32(b[12:], 1<<20)
	binary.BigEndian.PutUint16(b[16:], seq)
	binary.BigEndian.PutUint16(b[18:], ack)
	return b
}

const (
	utpReset = 3
	utpSyn   = 4
)

// hostileAttack is one class of attacker.
type hostileAttack struct {
	name string
	// honest is the transport of the honest download during the attack.
	honest peer.Transport
	run    func(ctx context.Context, wg *sync.WaitGroup, t *testing.T, v *victim, h *honest, mi *metainfo.MetaInfo)
}

func metadataRequest(extID uint8, piece int) []byte {
	return wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: extID,
		Payload: wire.AppendMetadataMessage(nil, wire.MetadataMessage{Type: wire.MetadataRequest, Piece: piece})})
}

var hostileAttacks = []hostileAttack{
	{"never reading (requests and metadata requests)", peer.TransportTCP, func(ctx context.Context, wg *sync.WaitGroup, t *testing.T, v *victim, h *honest, mi *metainfo.MetaInfo) {
		pieces := uint32(mi.Info.NumPieces())
		floodConns(ctx, wg, 16, "127.0.0.3", v.addr, mi.Info.Hash(), false, wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: 3}},
			func(r *rand.Rand) []byte {
				var b []byte
				for range 512 {
					b = append(b, metadataRequest(2, 0)...)
					b = wire.AppendMessage(b, wire.Message{Type: wire.Request, Index: r.Uint32N(pieces), Begin: 0, Length: 16 << 10})
				}
				return b
			})
	}},
	{"metadata flood", peer.TransportTCP, func(ctx context.Context, wg *sync.WaitGroup, t *testing.T, v *victim, h *honest, mi *metainfo.MetaInfo) {
		req := metadataRequest(2, 0)
		floodConns(ctx, wg, 8, "127.0.0.4", v.addr, mi.Info.Hash(), true, wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: 3}},
			func(r *rand.Rand) []byte {
				var b []byte
				for range 1024 {
					b = append(b, req...)
				}
				return b
			})
	}},
	{"request flood", peer.TransportTCP, func(ctx context.Context, wg *sync.WaitGroup, t *testing.T, v *victim, h *honest, mi *metainfo.MetaInfo) {
		pieces := uint32(mi.Info.NumPieces())
		floodConns(ctx, wg, 8, "127.0.0.5", v.addr, mi.Info.Hash(), true, wire.ExtendedHandshake{},
			func(r *rand.Rand) []byte {
				var b []byte
				for range 4096 {
					b = wire.AppendMessage(b, wire.Message{Type: wire.Request, Index: r.Uint32N(pieces), Begin: 16 << 10 * r.Uint32N(4), Length: 16 << 10})
				}
				return b
			})
	}},
	{"repeated extended handshakes", peer.TransportTCP, func(ctx context.Context, wg *sync.WaitGroup, t *testing.T, v *victim, h *honest, mi *metainfo.MetaInfo) {
		floodConns(ctx, wg, 4, "127.0.0.6", v.addr, mi.Info.Hash(), true, wire.ExtendedHandshake{},
			func(r *rand.Rand) []byte {
				m := make(map[string]int, 1000)
				for i := range 1000 {
					m[fmt.Sprintf("x_%016x_%d", r.Uint64(), i)] = 1 + i%200
				}
				return wire.AppendMessage(nil, wire.Message{Type: wire.Extended, Payload: wire.AppendExtendedHandshake(nil, wire.ExtendedHandshake{M: m})})
			})
	}},
	{"spoofed uTP SYNs and RESETs", peer.TransportBoth, func(ctx context.Context, wg *sync.WaitGroup, t *testing.T, v *victim, h *honest, mi *metainfo.MetaInfo) {
		sp := newSpoofer(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(5, 5))
			for i := 0; ctx.Err() == nil; i++ {
				// SYNs from many addresses (and ports), RESETs forging the honest peer's
				// own address with guessed ids and acks.
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(r.IntN(256)), byte(1 + r.IntN(254))}), uint16(1024+r.IntN(60000)))
				sp.send(src, v.addr, utpPacket(utpSyn, uint16(r.Uint32()), uint16(r.Uint32()), 0))
				sp.send(h.addr, v.addr, utpPacket(utpReset, uint16(r.Uint32()), uint16(r.Uint32()), uint16(r.Uint32())))
				if i%64 == 63 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}},
	{"DHT flood", peer.TransportTCP, func(ctx context.Context, wg *sync.WaitGroup, t *testing.T, v *victim, h *honest, mi *metainfo.MetaInfo) {
		sp := newSpoofer(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(6, 6))
			id := [20]byte{1, 2, 3}
			for i := 0; ctx.Err() == nil; i++ {
				var target [20]byte
				binary.BigEndian.PutUint64(target[:], r.Uint64())
				m := krpc.Msg{T: []byte{byte(i), byte(i >> 8)}, Y: krpc.TypeQuery, Q: krpc.MethodGetPeers, A: &krpc.Args{ID: id, InfoHash: target}}
				b, _ := m.Marshal()
				// Spoofed: many sources, and a stream forging the honest peer's address.
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, byte(r.IntN(256)), byte(1 + r.IntN(254))}), 6881)
				sp.send(src, v.addr, b)
				sp.send(h.addr, v.addr, b)
				if i%64 == 63 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}},
}

// TestHostilePeers runs each attack against a btt seeder while an honest peer downloads.
func TestHostilePeers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the hostile-peer suite needs root (raw sockets) in a private network namespace")
	}
	dir := t.TempDir()
	mi, torrent := makeTorrent(t, dir, "victim", []thirdparty.File{{Path: "payload.bin", Size: 48 << 20}}, 256<<10, false)
	v := startVictim(t, torrent, dir)

	for _, a := range hostileAttacks {
		t.Run(a.name, func(t *testing.T) {
			// The reference: the same download over the same transport without an attack.
			base := newHonest(t, a.honest)
			stop := v.watch(t)
			baseTime := base.download(t, mi, v.addr)
			basePeak := stop()

			h := newHonest(t, a.honest)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			a.run(ctx, &wg, t, v, h, mi)
			stop = v.watch(t)
			time.Sleep(time.Second) // let the attack build up
			attackTime := h.download(t, mi, v.addr)
			peak := stop()
			cancel()
			wg.Wait()

			t.Logf("honest download rate under attack / without: %.2f; victim peak RSS %d MiB (ratio %.2f), goroutines %d (ratio %.2f), heap %d MiB (ratio %.2f); machine loaded, same run",
				baseTime.Seconds()/attackTime.Seconds(), peak.rss>>20, float64(peak.rss)/float64(basePeak.rss),
				peak.goroutines, float64(peak.goroutines)/float64(max(1, basePeak.goroutines)),
				peak.heap>>20, float64(peak.heap)/float64(max(1, basePeak.heap)))
			if peak.rss > basePeak.rss+hostileRSSSlack {
				t.Errorf("victim RSS %d MiB under attack, bound %d MiB (%d without + %d)", peak.rss>>20,
					(basePeak.rss+hostileRSSSlack)>>20, basePeak.rss>>20, hostileRSSSlack>>20)
			}
			if peak.goroutines > basePeak.goroutines+hostileGoroutinesSlack {
				v.logGoroutines(t)
				t.Errorf("victim ran %d goroutines under attack, bound %d (%d without + %d)", peak.goroutines,
					basePeak.goroutines+hostileGoroutinesSlack, basePeak.goroutines, hostileGoroutinesSlack)
			}
		})
	}
}

// TestHostileTracker floods a btt-tracker with announces (many sources, top-bidder
// queries, an IPv6 /64's worth of addresses is not reachable on loopback, so IPv4
// sources) while an honest client announces; the tracker's memory stays bounded and the
// honest announces are answered.
func TestHostileTracker(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the hostile-peer suite needs root (raw sockets) in a private network namespace")
	}
	_, udpURL := startBttTracker(t)
	trAddr := netip.MustParseAddrPort(strings.TrimSuffix(strings.TrimPrefix(udpURL, "udp://"), "/announce"))
	pid := trackerPID(t, trAddr)
	rss := func() int64 {
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(raw), "\n") {
			if val, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
				return kb << 10
			}
		}
		return 0
	}
	ih := [20]byte{0xee, 1}
	announce := func(src string, port uint16, top int, bid uint64) (tracker.AnnounceResponse, error) {
		c, err := net.ListenPacket("udp4", src+":0")
		if err != nil {
			return tracker.AnnounceResponse{}, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 4096)
		if _, err := c.WriteTo(tracker.AppendUDPConnect(nil, 1), net.UDPAddrFromAddrPort(trAddr)); err != nil {
			return tracker.AnnounceResponse{}, err
		}
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return tracker.AnnounceResponse{}, err
		}
		id, err := tracker.ParseUDPConnectReply(buf[:n], 1)
		if err != nil {
			return tracker.AnnounceResponse{}, err
		}
		req := tracker.AnnounceRequest{InfoHash: ih, Port: port, Left: 1, Bid: bid, Top: top, NumWant: 50}
		if _, err := c.WriteTo(tracker.AppendUDPAnnounce(nil, id, 2, "", req), net.UDPAddrFromAddrPort(trAddr)); err != nil {
			return tracker.AnnounceResponse{}, err
		}
		n, _, err = c.ReadFrom(buf)
		if err != nil {
			return tracker.AnnounceResponse{}, err
		}
		return tracker.ParseUDPAnnounceReply(buf[:n], 2, false, top > 0)
	}
	base := rss()
	honestOK := func() bool {
		_, err := announce("127.0.0.2", 7000, 5, 10)
		return err == nil
	}
	if !honestOK() {
		t.Fatal("honest announce failed before the attack")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 4))
			for ctx.Err() == nil {
				src := fmt.Sprintf("127.3.%d.%d", r.IntN(256), 1+r.IntN(254))
				announce(src, uint16(1024+r.IntN(60000)), 1+r.IntN(50), 1+r.Uint64N(1000))
			}
		}()
	}
	var peak int64
	answered, asked := 0, 0
	for range 20 {
		time.Sleep(250 * time.Millisecond)
		peak = max(peak, rss())
		asked++
		if honestOK() {
			answered++
		}
	}
	cancel()
	wg.Wait()
	t.Logf("tracker RSS under flood %d MiB (ratio %.2f to before); honest announces answered %d/%d; machine loaded",
		peak>>20, float64(peak)/float64(base), answered, asked)
	if peak > base+hostileRSSSlack {
		t.Errorf("tracker RSS %d MiB under flood, bound %d MiB", peak>>20, (base+hostileRSSSlack)>>20)
	}
	if answered < asked/2 {
		t.Errorf("only %d of %d honest announces answered during the flood", answered, asked)
	}
}

// trackerPID finds the process listening on the tracker's UDP port (the one
// startBttTracker started) through /proc.
func trackerPID(t *testing.T, addr netip.AddrPort) int {
	t.Helper()
	ents, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, e := range ents {
		b, _ := os.ReadFile(e)
		if strings.Contains(string(b), "btt-tracker") && strings.Contains(string(b), addr.String()) {
			pid, _ := strconv.Atoi(strings.Split(e, "/")[2])
			return pid
		}
	}
	t.Fatal("btt-tracker process not found")
	return 0
}
