package utp

import (
	"io"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTransfer moves 64 MiB per iteration over loopback between two of our
// sockets (both ends in this process) and reports CPU seconds per GiB for both ends
// together, with and without UDP segmentation/receive offload.
func BenchmarkTransfer(b *testing.B) {
	b.Run("offload", func(b *testing.B) { benchTransfer(b, Config{}) })
	b.Run("plain", func(b *testing.B) { benchTransfer(b, Config{NoOffload: true}) })
}

func benchTransfer(b *testing.B, cfg Config) {
	const size = 64 << 20
	a, s := listen(b, cfg), listen(b, cfg)
	data := make([]byte, 1<<20)
	b.SetBytes(size)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		done := make(chan int64, 1)
		go func() {
			c, err := s.Accept()
			if err != nil {
				done <- -1
				return
			}
			defer c.Close()
			n, _ := io.Copy(io.Discard, c)
			done <- n
		}()
		c := dial(b, a, s.Addr().String())
		for sent := 0; sent < size; sent += len(data) {
			if _, err := c.Write(data); err != nil {
				b.Fatal(err)
			}
		}
		_ = c.(*Conn).CloseWrite()
		if n := <-done; n != size {
			b.Fatalf("received %d bytes", n)
		}
		c.Close()
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(cpu.Seconds()/(float64(b.N)*size/(1<<30)), "cpu-s/GiB")
}

// BenchmarkDecode measures header decoding of a data packet with a selective ack.
func BenchmarkDecode(b *testing.B) {
	h := Header{Type: TypeData, ConnID: 1, Extensions: []Extension{{Type: ExtSelectiveAck, Data: []byte{1, 2, 3, 4}}}}
	pkt, _ := h.Append(nil)
	pkt = append(pkt, make([]byte, 1400)...)
	var d Header
	b.ReportAllocs()
	for range b.N {
		if _, err := d.Decode(pkt); err != nil {
			b.Fatal(err)
		}
	}
}
