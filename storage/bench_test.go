package storage

import (
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"
)

// threadCPU is the calling thread's user+system CPU time in nanoseconds.
func threadCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		b.Skip("no per-thread rusage:", err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkSendBlock serves 16 KiB blocks (with a 13-byte piece header) over loopback
// TCP to a reader that discards them, with sendfile and through a buffer. Besides
// MB/s, which on a shared machine mostly measures the receiver and the neighbours, it
// reports sender-cpu-ns/op: the CPU time (user+system) of the sending thread per block.
func BenchmarkSendBlock(b *testing.B) {
	fx := makeFixture(b, 41, 256<<10, 8<<20)
	tr := open(b, b.TempDir(), fx, Options{})
	download(b, tr, fx)
	for _, mode := range []string{"sendfile", "sendfile-noheader", "copy"} {
		b.Run(mode, func(b *testing.B) {
			client, server := loopback(b)
			var w io.Writer = server
			if mode == "copy" {
				w = hideConn{server}
			}
			hdr := make([]byte, 13)
			if mode == "sendfile-noheader" {
				hdr = nil
			}
			done := make(chan struct{})
			go func() {
				io.Copy(io.Discard, client)
				close(done)
			}()
			blocksPerPiece := int(fx.spec.PieceLength / BlockSize)
			n := len(fx.spec.Hashes) * blocksPerPiece
			b.SetBytes(BlockSize)
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % n
				if _, err := tr.SendBlock(w, hdr, k/blocksPerPiece, (k%blocksPerPiece)*BlockSize, BlockSize); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(threadCPU(b)-cpu0)/float64(b.N), "sender-cpu-ns/op")
			server.CloseWrite()
			<-done
		})
	}
}

// BenchmarkWriteBlockHashed writes and hashes 16 KiB blocks in order (the common case)
// and in reverse order within each piece (every block but one waits in a pooled buffer).
func BenchmarkWriteBlockHashed(b *testing.B) {
	fx := makeFixture(b, 42, 256<<10, 16<<20)
	for _, order := range []string{"in-order", "reversed"} {
		b.Run(order, func(b *testing.B) {
			tr := open(b, b.TempDir(), fx, Options{})
			bpp := int(fx.spec.PieceLength / BlockSize)
			n := len(fx.spec.Hashes) * bpp
			b.SetBytes(BlockSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % n
				if k == 0 && i > 0 {
					for p := range fx.spec.Hashes {
						tr.setHave(p, false)
					}
				}
				piece, j := k/bpp, k%bpp
				if order == "reversed" {
					j = bpp - 1 - j
				}
				res, err := tr.WriteBlockHashed(piece, j*BlockSize, fx.block(piece, j))
				if err != nil || res == PieceFailed {
					b.Fatal(res, err)
				}
			}
		})
	}
}

// BenchmarkRecheck hashes a 32 MiB torrent from the page cache.
func BenchmarkRecheck(b *testing.B) {
	fx := makeFixture(b, 43, 256<<10, 32<<20)
	tr := open(b, b.TempDir(), fx, Options{})
	download(b, tr, fx)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(len(fx.content)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := tr.Recheck(b.Context(), workers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
