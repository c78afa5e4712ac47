package conformance

import (
	"context"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/peer/utp"
)

func utpCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestUTPThroughput measures a loopback uTP transfer ours -> ours and, in the same run,
// libtorrent -> libtorrent over uTP only (4 MiB socket buffers, as INTEROP.md says it
// needs), reporting MB/s and CPU seconds per GiB. It is a measurement, not a check, so
// it runs only when BTT_UTP_MEASURE is set; BTT_UTP_INTEROP_MIB sets the size
// (default 4 MiB... set 1024 for the 1 GiB).
func TestUTPThroughput(t *testing.T) {
	if os.Getenv("BTT_UTP_MEASURE") == "" {
		t.Skip("set BTT_UTP_MEASURE=1 to measure uTP throughput")
	}
	size := utpInteropSize(t)
	gib := float64(size) / (1 << 30)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, offload := range []bool{true, false} {
		utpOursToOurs(ctx, t, size, offload)
	}

	// libtorrent -> libtorrent, uTP only.
	testutil.NeedLibtorrent(t)
	root, _, torPath, _ := utpTorrent(t, size)
	seed := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{Listen: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")),
		Torrent: torPath, SavePath: root, Seed: true, UTP: true, SocketBuffers: 4 << 20})
	if err := seed.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	leech := thirdparty.StartLibtorrent(t, thirdparty.LTConfig{Listen: testutil.Addr("127.0.0.1", testutil.FreePort(t, "127.0.0.1")),
		Torrent: torPath, SavePath: t.TempDir(), UTP: true, SocketBuffers: 4 << 20, Peers: []string{seed.Addr()}})
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	leech.Stop()
	seed.Stop()
	// CPU includes libtorrent's hashing of the received pieces (and the seeder's check
	// at start), which ours -> ours does not do: an upper bound on its transport cost.
	t.Logf("libtorrent -> libtorrent uTP, %d MiB: %.1f MB/s (from leecher start, incl. its startup), %.2f CPU s/GiB (both processes, incl. hashing and startup)",
		size>>20, float64(size)/el.Seconds()/1e6, (leech.CPUSeconds()+seed.CPUSeconds())/gib)
}

// utpOursToOurs moves size bytes between two of our sockets in this process, so the
// process CPU is the cost of both ends.
func utpOursToOurs(ctx context.Context, t *testing.T, size int64, offload bool) {
	gib := float64(size) / (1 << 30)
	a, err := utp.Listen("udp", "127.0.0.1:0", utp.Config{NoOffload: !offload})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := utp.Listen("udp", "127.0.0.1:0", utp.Config{NoOffload: !offload})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := b.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	cpu0, start := utpCPU(), time.Now()
	c, err := a.DialContext(ctx, b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(9 * time.Minute))
	buf := make([]byte, 1<<20)
	for sent := int64(0); sent < size; sent += int64(len(buf)) {
		if _, err := c.Write(buf[:min(int64(len(buf)), size-sent)]); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.(*utp.Conn).CloseWrite()
	if n := <-got; n != size {
		t.Fatalf("received %d of %d bytes", n, size)
	}
	el, cpu := time.Since(start), utpCPU()-cpu0
	st := c.(*utp.Conn).Stats()
	c.Close()
	t.Logf("ours -> ours uTP (offload %v), %d MiB: %.1f MB/s, %.2f CPU s/GiB (both ends); sender %+v", offload, size>>20,
		float64(size)/el.Seconds()/1e6, cpu.Seconds()/gib, st)

}
