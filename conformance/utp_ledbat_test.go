package conformance

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/speedbt/btt/peer/utp"
)

// utpRun runs a command and fails the test with its output if it fails.
func utpRun(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// utpInNetns runs f on an OS thread that has joined network namespace name, so the
// sockets f creates live in that namespace (a socket keeps its namespace for life).
// The thread is never returned to the scheduler: it dies with the goroutine.
func utpInNetns(t *testing.T, name string, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread is discarded, not reused elsewhere
		fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// utpCounter counts bytes read from a stream.
type utpCounter struct{ n atomic.Int64 }

func (c *utpCounter) drain(r io.Reader) {
	buf := make([]byte, 256<<10)
	for {
		n, err := r.Read(buf)
		c.n.Add(int64(n))
		if err != nil {
			return
		}
	}
}

func utpSend(ctx context.Context, w io.Writer) {
	buf := make([]byte, 256<<10)
	for ctx.Err() == nil {
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
}

// TestUTPLedbatYields puts a uTP flow through a 20 Mbit/s token-bucket bottleneck with a
// deep (400 ms) queue between two network namespaces, alone and then beside a TCP flow.
// Alone it must use most of the link while keeping the queueing delay near LEDBAT's
// 100 ms target (not the 400 ms the queue allows); beside TCP its share must drop well
// below half. Needs root (netns, veth, tc).
func TestUTPLedbatYields(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and tc")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	const (
		linkRate = 20e6 / 8 // bytes per second
		alone    = 12 * time.Second
		shared   = 20 * time.Second
		settle   = 8 * time.Second // of shared, before measuring: TCP's slow start and LEDBAT's reaction
	)
	// A -- R -- B: the bottleneck sits on the router's egress towards B. It must not
	// be on A itself: TCP Small Queues keep a TCP sender from queueing more than about a
	// millisecond of data in its own host's qdisc, so a local bottleneck would never
	// see TCP build the queue it builds in a real router.
	tag := fmt.Sprintf("bttu%d", rand.IntN(1e6))
	nsA, nsR, nsB := tag+"a", tag+"r", tag+"b"
	for _, ns := range []string{nsA, nsR, nsB} {
		utpRun(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		utpRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	link := func(ns1, dev1, addr1, ns2, dev2, addr2 string) {
		utpRun(t, "ip", "link", "add", dev1, "netns", ns1, "type", "veth", "peer", "name", dev2, "netns", ns2)
		utpRun(t, "ip", "-n", ns1, "addr", "add", addr1, "dev", dev1)
		utpRun(t, "ip", "-n", ns2, "addr", "add", addr2, "dev", dev2)
		utpRun(t, "ip", "-n", ns1, "link", "set", dev1, "up")
		utpRun(t, "ip", "-n", ns2, "link", "set", dev2, "up")
	}
	link(nsA, tag+"ar", "10.77.1.1/24", nsR, tag+"ra", "10.77.1.2/24")
	link(nsR, tag+"rb", "10.77.2.2/24", nsB, tag+"br", "10.77.2.1/24")
	utpRun(t, "ip", "-n", nsA, "route", "add", "default", "via", "10.77.1.2")
	utpRun(t, "ip", "-n", nsB, "route", "add", "default", "via", "10.77.2.2")
	utpRun(t, "ip", "netns", "exec", nsR, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	// On a loaded machine the sending goroutine can stall for a few hundred ms; Linux
	// would then restart TCP from its initial window, and the TCP flow would stop
	// competing for reasons that have nothing to do with uTP.
	utpRun(t, "ip", "netns", "exec", nsA, "sysctl", "-q", "-w", "net.ipv4.tcp_slow_start_after_idle=0")
	utpRun(t, "ip", "netns", "exec", nsR, "tc", "qdisc", "add", "dev", tag+"rb", "root", "tbf",
		"rate", "20mbit", "burst", "32kbit", "latency", "400ms")

	var (
		utpSock, utpSrv *utp.Socket
		tcpLn           net.Listener
		probeA, probeB  net.PacketConn
	)
	utpInNetns(t, nsB, func() (err error) {
		if utpSrv, err = utp.Listen("udp4", "10.77.2.1:6881", utp.Config{}); err != nil {
			return err
		}
		if tcpLn, err = net.Listen("tcp4", "10.77.2.1:6882"); err != nil {
			return err
		}
		probeB, err = net.ListenPacket("udp4", "10.77.2.1:6883")
		return err
	})
	defer utpSrv.Close()
	defer tcpLn.Close()
	defer probeB.Close()
	utpInNetns(t, nsA, func() (err error) {
		if utpSock, err = utp.Listen("udp4", "10.77.1.1:6881", utp.Config{}); err != nil {
			return err
		}
		probeA, err = net.ListenPacket("udp4", "10.77.1.1:6883")
		return err
	})
	defer utpSock.Close()
	defer probeA.Close()

	ctx, cancel := context.WithTimeout(context.Background(), alone+shared+30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// A probe measures the queue independently of uTP's own estimate: a small UDP
	// packet through the same bottleneck every 100 ms, echoed back unshaped.
	var probeMu sync.Mutex
	var probeRTT []time.Duration
	var probeAt []time.Time
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64)
		for {
			n, from, err := probeB.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = probeB.WriteTo(buf[:n], from)
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 64)
		for ctx.Err() == nil {
			start := time.Now()
			_, _ = probeA.WriteTo([]byte(fmt.Sprint(start.UnixNano())), probeB.LocalAddr())
			_ = probeA.SetReadDeadline(start.Add(2 * time.Second))
			if _, _, err := probeA.ReadFrom(buf); err == nil {
				probeMu.Lock()
				probeRTT = append(probeRTT, time.Since(start))
				probeAt = append(probeAt, start)
				probeMu.Unlock()
			}
			time.Sleep(time.Until(start.Add(100 * time.Millisecond)))
		}
	}()
	go func() { <-ctx.Done(); probeA.Close(); probeB.Close() }()

	// The uTP flow, A -> B.
	var utpBytes, tcpBytes utpCounter
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := utpSrv.Accept()
		if err != nil {
			return
		}
		go func() { <-ctx.Done(); c.Close() }()
		utpBytes.drain(c)
	}()
	uc, err := utpSock.DialContext(ctx, "10.77.2.1:6881")
	if err != nil {
		t.Fatal(err)
	}
	go func() { <-ctx.Done(); uc.Close() }()
	wg.Add(1)
	go func() { defer wg.Done(); utpSend(ctx, uc) }()

	type sample struct {
		at       time.Duration
		utp, tcp int64
		qdelay   time.Duration
		cwnd     int
		lost     uint64
		tcpInfo  string
	}
	var samples []sample
	var tcpConn atomic.Pointer[net.TCPConn]
	start := time.Now()
	record := func(until time.Duration) {
		for time.Since(start) < until && ctx.Err() == nil {
			time.Sleep(500 * time.Millisecond)
			st := uc.(*utp.Conn).Stats()
			s := sample{at: time.Since(start), utp: utpBytes.n.Load(), tcp: tcpBytes.n.Load(), qdelay: st.QueuingDelay, cwnd: st.Cwnd, lost: st.FastRetransmit + st.Timeouts}
			if c := tcpConn.Load(); c != nil {
				if rc, err := c.SyscallConn(); err == nil {
					_ = rc.Control(func(fd uintptr) {
						if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
							cc, _ := unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
							s.tcpInfo = fmt.Sprintf("tcp %s cwnd %d rtt %dms retrans %d", cc, ti.Snd_cwnd, ti.Rtt/1000, ti.Total_retrans)
						}
					})
				}
			}
			samples = append(samples, s)
		}
	}
	record(alone)

	// The TCP flow joins, A -> B through the same queue.
	tcpStart := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := tcpLn.Accept()
		if err != nil {
			return
		}
		_ = c.(*net.TCPConn).SetReadBuffer(8 << 20)
		go func() { <-ctx.Done(); c.Close() }()
		tcpBytes.drain(c)
	}()
	var tc net.Conn
	utpInNetns(t, nsA, func() (err error) {
		// The competing flow is loss-based TCP (CUBIC, Linux's usual default). This
		// host defaults to BBR, which does not fill queues the way loss-based TCP does:
		// every 10 s its ProbeRTT phase drains the queue and it then settles for the
		// share LEDBAT leaves it, which would test BBR, not LEDBAT.
		var serr error
		d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, "cubic")
			}); err != nil {
				return err
			}
			return serr
		}}
		tc, err = d.Dial("tcp4", "10.77.2.1:6882")
		return err
	})
	// Deep socket buffers keep the TCP flow from going application-limited when this
	// (shared, busy) machine stalls the sending goroutine: the kernel keeps sending
	// from the buffer, and TCP keeps competing.
	_ = tc.(*net.TCPConn).SetWriteBuffer(8 << 20)
	tcpConn.Store(tc.(*net.TCPConn))
	go func() { <-ctx.Done(); tc.Close() }()
	wg.Add(1)
	go func() { defer wg.Done(); utpSend(ctx, tc) }()
	record(alone + shared)
	cancel()

	// Rates over windows: the second half of the solo phase, and the shared phase
	// after it settled.
	at := func(d time.Duration) sample {
		i := slices.IndexFunc(samples, func(s sample) bool { return s.at >= d })
		if i < 0 {
			return samples[len(samples)-1]
		}
		return samples[i]
	}
	rate := func(a, b sample) (u, tc float64) {
		s := (b.at - a.at).Seconds()
		return float64(b.utp-a.utp) / s, float64(b.tcp-a.tcp) / s
	}
	s0, s1 := at(alone/2), at(alone)
	soloUTP, _ := rate(s0, s1)
	tcpT := tcpStart.Sub(start)
	s2, s3 := at(tcpT+settle), samples[len(samples)-1]
	shUTP, shTCP := rate(s2, s3)
	share := shUTP / (shUTP + shTCP)

	probeMu.Lock()
	var soloQ, shQ []time.Duration
	base := slices.Min(probeRTT)
	for i, r := range probeRTT {
		d := probeAt[i].Sub(start)
		switch {
		case d >= alone/2 && d < alone:
			soloQ = append(soloQ, r-base)
		case d >= tcpT+settle:
			shQ = append(shQ, r-base)
		}
	}
	probeMu.Unlock()
	med := func(x []time.Duration) time.Duration {
		if len(x) == 0 {
			return -1
		}
		slices.Sort(x)
		return x[len(x)/2]
	}
	for i, s := range samples {
		var u, tr float64
		if i > 0 {
			u, tr = rate(samples[i-1], s)
		}
		t.Logf("%5.1fs uTP %5.2f MB/s cwnd %4d KB queuing delay %4d ms losses %d | TCP %5.2f MB/s %s", s.at.Seconds(), u/1e6, s.cwnd>>10, s.qdelay.Milliseconds(), s.lost, tr/1e6, s.tcpInfo)
	}
	t.Logf("solo: uTP %.2f MB/s = %.0f%% of the 20 Mbit/s link; probe queueing delay median %v (uTP's own estimate at end %v)",
		soloUTP/1e6, 100*soloUTP/linkRate, med(soloQ), s1.qdelay)
	t.Logf("with TCP: uTP %.3f MB/s, TCP %.2f MB/s, uTP share %.1f%%; probe queueing delay median %v",
		shUTP/1e6, shTCP/1e6, 100*share, med(shQ))
	if soloUTP < 0.7*linkRate {
		t.Errorf("uTP alone used %.0f%% of the link, want most of it", 100*soloUTP/linkRate)
	}
	if q := med(soloQ); q < 0 || q > 200*time.Millisecond {
		t.Errorf("uTP alone kept a queueing delay of %v, want near the 100 ms target", q)
	}
	if share > 0.25 {
		t.Errorf("uTP kept %.0f%% of the link beside TCP, want well below half", 100*share)
	}
}
