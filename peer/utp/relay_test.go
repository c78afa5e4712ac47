package utp

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// impairment says what a relay does to packets, decided per packet by a seeded PRNG so a
// failing schedule can be replayed.
type impairment struct {
	seed      uint64
	loss      float64       // probability a packet is dropped
	dup       float64       // probability a packet is sent twice
	reorder   float64       // probability a packet is held back
	holdFor   time.Duration // how long a held packet waits (others overtake it)
	delayBase time.Duration // constant one-way delay added to every packet (0: none)
	// shape, if set, sees every packet before the random impairments and returns it
	// (possibly rewritten), or nil to drop it; it runs under the relay's lock.
	shape func(b []byte, fromClient bool) []byte
}

// relay is a UDP proxy between one client and one server that drops, duplicates and
// reorders packets. The client talks to relay.Addr(); the relay talks to the server
// from its own second socket.
type relay struct {
	front, back *net.UDPConn
	server      *net.UDPAddr
	mu          sync.Mutex
	client      *net.UDPAddr
	rng         *rand.Rand
	imp         impairment
	wg          sync.WaitGroup
	dropped     int
	forwarded   int
}

func newRelay(t *testing.T, server net.Addr, imp impairment) *relay {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*net.UDPConn{front, back} {
		_ = c.SetReadBuffer(4 << 20)
		_ = c.SetWriteBuffer(4 << 20)
	}
	r := &relay{front: front, back: back, server: server.(*net.UDPAddr), rng: rand.New(rand.NewPCG(imp.seed, 1)), imp: imp}
	ctx, cancel := context.WithCancel(context.Background())
	r.wg.Add(2)
	go r.pump(ctx, front, true)
	go r.pump(ctx, back, false)
	t.Cleanup(func() {
		cancel()
		front.Close()
		back.Close()
		r.wg.Wait()
	})
	return r
}

func (r *relay) Addr() string { return r.front.LocalAddr().String() }

func (r *relay) pump(ctx context.Context, in *net.UDPConn, fromClient bool) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := in.ReadFromUDP(buf)
		if err != nil {
			return
		}
		b := append([]byte(nil), buf[:n]...)
		r.mu.Lock()
		var out *net.UDPConn
		var to *net.UDPAddr
		if fromClient {
			r.client = from
			out, to = r.back, r.server
		} else {
			out, to = r.front, r.client
		}
		if to == nil {
			r.mu.Unlock()
			continue
		}
		copies := 1
		if r.imp.shape != nil {
			b = r.imp.shape(b, fromClient)
		}
		if b == nil {
			copies = 0
			r.dropped++
		} else if r.rng.Float64() < r.imp.loss {
			copies = 0
			r.dropped++
		} else if r.rng.Float64() < r.imp.dup {
			copies = 2
		}
		hold := r.imp.delayBase
		if r.rng.Float64() < r.imp.reorder {
			hold += time.Duration(r.rng.Int64N(int64(r.imp.holdFor) + 1))
		}
		r.forwarded += copies
		r.mu.Unlock()
		for range copies {
			if hold == 0 {
				_, _ = out.WriteToUDP(b, to)
				continue
			}
			time.AfterFunc(hold, func() {
				if ctx.Err() == nil {
					_, _ = out.WriteToUDP(b, to)
				}
			})
		}
	}
}
