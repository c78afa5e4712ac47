package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/speedbt/btt/dht"
)

// Network is an in-memory datagram network between simulated hosts.
type Network struct {
	Clock *Clock
	// Latency returns the one-way delay of a packet; default uniform 10-150 ms.
	Latency func(r *rand.Rand) time.Duration
	Loss    float64 // probability that a packet is lost

	rng   *rand.Rand
	hosts map[netip.AddrPort]*Host

	Sent, Delivered, Dropped uint64
	Bytes                    uint64
}

// Host is one simulated machine running a DHT node.
type Host struct {
	Addr   netip.AddrPort
	Node   *dht.Node
	Online bool
	nw     *Network
}

// NewNetwork returns an empty network whose randomness derives from seed.
func NewNetwork(seed uint64, start time.Time) *Network {
	return &Network{
		Clock: NewClock(start),
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		hosts: map[netip.AddrPort]*Host{},
	}
}

// Rand is the network's random source, for experiments that need one.
func (nw *Network) Rand() *rand.Rand { return nw.rng }

// AddHost starts a node at addr. cfg's Send, Clock and Rand are set by the network.
func (nw *Network) AddHost(addr netip.AddrPort, cfg dht.Config) (*Host, error) {
	if nw.hosts[addr] != nil {
		return nil, fmt.Errorf("sim: %v already used", addr)
	}
	h := &Host{Addr: addr, Online: true, nw: nw}
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(nw.rng.Uint32())
	}
	cfg.Send = h.send
	cfg.Clock = nw.Clock
	cfg.Rand = rand.NewChaCha8(seed)
	n, err := dht.New(cfg)
	if err != nil {
		return nil, err
	}
	h.Node = n
	nw.hosts[addr] = h
	return h, nil
}

func (h *Host) send(b []byte, to netip.AddrPort) error {
	nw := h.nw
	nw.Sent++
	nw.Bytes += uint64(len(b))
	if !h.Online || (nw.Loss > 0 && nw.rng.Float64() < nw.Loss) {
		nw.Dropped++
		return nil
	}
	d := 10*time.Millisecond + time.Duration(nw.rng.Int64N(int64(140*time.Millisecond)))
	if nw.Latency != nil {
		d = nw.Latency(nw.rng)
	}
	pkt := append([]byte(nil), b...)
	from := h.Addr
	nw.Clock.AfterFunc(d, func() {
		dst := nw.hosts[to]
		if dst == nil || !dst.Online {
			nw.Dropped++
			return
		}
		nw.Delivered++
		dst.Node.HandlePacket(pkt, from)
	})
	return nil
}
