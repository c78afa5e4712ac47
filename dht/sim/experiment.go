package sim

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/speedbt/btt/dht"
)

// Params describe a lookup experiment.
type Params struct {
	Nodes     int     // network size
	Seed      uint64  // everything random derives from it
	Torrents  int     // info-hashes announced, each by one node
	Lookups   int     // get_peers lookups per phase, from random online nodes
	Churn     float64 // fraction of nodes offline during the churn phase (0 skips it)
	Loss      float64 // packet loss probability
	JoinBatch int     // nodes joining at once; default 50
	Parallel  int     // lookups running at once; default 50
}

// PhaseReport measures one phase of lookups.
type PhaseReport struct {
	Lookups, Found   int
	SuccessRate      float64
	MeanHops         float64 // hops to the node that returned the peer
	MaxHops          int
	MeanQueries      float64 // messages a whole lookup sent
	MeanFirstQueries float64 // messages sent until the peer was found
	P50Latency       time.Duration
	P95Latency       time.Duration // virtual time until the peer was found
	Timeouts         uint64
}

// Report is the outcome of Run.
type Report struct {
	Nodes           int
	Log2N           float64
	JoinMessages    float64 // per joining node
	MeanTableSize   float64
	Announced       int     // torrents announced to at least one node
	MeanAnnouncedTo float64 // nodes that accepted each announce
	Stable, Churned PhaseReport
	Events          uint64
	Messages        uint64
	VirtualTime     time.Duration
}

func (r Report) String() string {
	churned := ""
	if r.Churned.Lookups > 0 {
		churned = fmt.Sprintf("\n  churned: %s", r.Churned)
	}
	return fmt.Sprintf("nodes=%d log2N=%.1f join_msgs/node=%.1f table=%.1f announced=%d/%.1f nodes\n  stable:  %s%s\n  events=%d messages=%d virtual=%v",
		r.Nodes, r.Log2N, r.JoinMessages, r.MeanTableSize, r.Announced, r.MeanAnnouncedTo, r.Stable, churned, r.Events, r.Messages, r.VirtualTime)
}

func (p PhaseReport) String() string {
	return fmt.Sprintf("found %d/%d (%.2f%%) hops mean %.2f max %d, msgs/lookup %.1f (to first peer %.1f), latency p50 %v p95 %v, timeouts %d",
		p.Found, p.Lookups, 100*p.SuccessRate, p.MeanHops, p.MaxHops, p.MeanQueries, p.MeanFirstQueries, p.P50Latency, p.P95Latency, p.Timeouts)
}

// addrOf gives host i a public IPv4 address (so BEP 42 applies) in 11.0.0.0/8.
func addrOf(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 6881)
}

// epoch is where every simulation's virtual clock starts.
func epoch() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// Run builds a network of p.Nodes nodes that join one batch at a time, announces
// p.Torrents info-hashes, then measures get_peers lookups: first with every node up,
// then (when p.Churn > 0) with that fraction of nodes offline and nodes continually
// leaving and coming back.
func Run(p Params) (Report, error) {
	if p.JoinBatch <= 0 {
		p.JoinBatch = 50
	}
	if p.Parallel <= 0 {
		p.Parallel = 50
	}
	nw := NewNetwork(p.Seed, epoch())
	nw.Loss = p.Loss
	rng := nw.Rand()
	rep := Report{Nodes: p.Nodes, Log2N: math.Log2(float64(p.Nodes))}
	hosts := make([]*Host, 0, p.Nodes)
	cfg := dht.Config{EnforceSecureIDs: true}
	deadline := func(d time.Duration) time.Time { return nw.Clock.Now().Add(d) }

	// Join.
	for i := 0; i < p.Nodes; {
		pending := 0
		batch := min(p.JoinBatch, p.Nodes-i)
		joined := len(hosts)
		for j := 0; j < batch; j, i = j+1, i+1 {
			c := cfg
			c.ExternalIP = addrOf(i).Addr()
			h, err := nw.AddHost(addrOf(i), c)
			if err != nil {
				return rep, err
			}
			hosts = append(hosts, h)
			if joined == 0 {
				continue // the first batch bootstraps from the first node
			}
			var boot []netip.AddrPort
			for range 3 {
				boot = append(boot, hosts[rng.IntN(joined)].Addr)
			}
			pending++
			h.Node.BootstrapAsync(boot, func(error) { pending-- })
		}
		if joined == 0 {
			for _, h := range hosts[1:] {
				pending++
				h.Node.BootstrapAsync([]netip.AddrPort{hosts[0].Addr}, func(error) { pending-- })
			}
		}
		if !nw.Clock.RunUntil(func() bool { return pending == 0 }, deadline(10*time.Minute)) {
			return rep, fmt.Errorf("sim: %d joins did not finish", pending)
		}
	}
	rep.JoinMessages = float64(nw.Sent) / float64(p.Nodes)
	tableSum := 0
	for _, h := range hosts {
		tableSum += h.Node.Stats().TableNodes
	}
	rep.MeanTableSize = float64(tableSum) / float64(p.Nodes)

	// Announce.
	type torrent struct {
		ih   dht.ID
		peer netip.AddrPort
	}
	torrents := make([]torrent, p.Torrents)
	pending := 0
	announcedTo := 0
	for i := range torrents {
		var ih dht.ID
		for j := range ih {
			ih[j] = byte(rng.Uint32())
		}
		h := hosts[rng.IntN(len(hosts))]
		port := 10000 + i
		torrents[i] = torrent{ih: ih, peer: netip.AddrPortFrom(h.Addr.Addr(), uint16(port))}
		pending++
		h.Node.LookupAsync(ih, dht.LookupOptions{Announce: true, Port: port}, func(r dht.LookupResult) {
			pending--
			if r.Announced > 0 {
				rep.Announced++
			}
			announcedTo += r.Announced
		})
	}
	if !nw.Clock.RunUntil(func() bool { return pending == 0 }, deadline(10*time.Minute)) {
		return rep, fmt.Errorf("sim: %d announces did not finish", pending)
	}
	if p.Torrents > 0 {
		rep.MeanAnnouncedTo = float64(announcedTo) / float64(p.Torrents)
	}

	phase := func(churn bool) (PhaseReport, error) {
		var pr PhaseReport
		var hops, queries, firstQueries []float64
		var lat []time.Duration
		timeouts0 := totalTimeouts(hosts)
		for done := 0; done < p.Lookups; {
			batch := min(p.Parallel, p.Lookups-done)
			pending := 0
			for range batch {
				done++
				t := torrents[rng.IntN(len(torrents))]
				var h *Host
				for h == nil || !h.Online {
					h = hosts[rng.IntN(len(hosts))]
				}
				pending++
				h.Node.LookupAsync(t.ih, dht.LookupOptions{GetPeers: true}, func(r dht.LookupResult) {
					pending--
					pr.Lookups++
					queries = append(queries, float64(r.Queries))
					if slices.Contains(r.Peers, t.peer) {
						pr.Found++
						hops = append(hops, float64(r.Hops))
						pr.MaxHops = max(pr.MaxHops, r.Hops)
						firstQueries = append(firstQueries, float64(r.FirstPeerQueries))
						lat = append(lat, r.FirstPeerAfter)
					}
				})
			}
			var stop dht.Timer
			if churn {
				stop = churnLoop(nw, hosts, time.Second)
			}
			ok := nw.Clock.RunUntil(func() bool { return pending == 0 }, deadline(10*time.Minute))
			if stop != nil {
				stop.Stop()
			}
			if !ok {
				return pr, fmt.Errorf("sim: %d lookups did not finish", pending)
			}
		}
		pr.SuccessRate = float64(pr.Found) / float64(max(1, pr.Lookups))
		pr.MeanHops = mean(hops)
		pr.MeanQueries = mean(queries)
		pr.MeanFirstQueries = mean(firstQueries)
		slices.Sort(lat)
		if len(lat) > 0 {
			pr.P50Latency = lat[len(lat)/2]
			pr.P95Latency = lat[len(lat)*95/100]
		}
		pr.Timeouts = totalTimeouts(hosts) - timeouts0
		return pr, nil
	}
	var err error
	if rep.Stable, err = phase(false); err != nil {
		return rep, err
	}
	if p.Churn > 0 {
		// Take a fraction offline at once, then keep swapping nodes in and out.
		for _, i := range rng.Perm(len(hosts))[:int(p.Churn*float64(len(hosts)))] {
			hosts[i].Online = false
		}
		if rep.Churned, err = phase(true); err != nil {
			return rep, err
		}
	}
	rep.Events = nw.Clock.Events()
	rep.Messages = nw.Sent
	rep.VirtualTime = nw.Clock.Now().Sub(epoch())
	return rep, nil
}

// churnLoop swaps one online and one offline node every interval: the offline one
// comes back with its old routing table, the online one vanishes without a word.
func churnLoop(nw *Network, hosts []*Host, every time.Duration) dht.Timer {
	var cur dht.Timer
	var tick func()
	stopped := false
	tick = func() {
		if stopped {
			return
		}
		rng := nw.Rand()
		a, b := hosts[rng.IntN(len(hosts))], hosts[rng.IntN(len(hosts))]
		if a.Online != b.Online {
			a.Online, b.Online = b.Online, a.Online
		}
		cur = nw.Clock.AfterFunc(every, tick)
	}
	cur = nw.Clock.AfterFunc(every, tick)
	return stopper(func() bool { stopped = true; return cur.Stop() })
}

type stopper func() bool

func (s stopper) Stop() bool { return s() }

func totalTimeouts(hosts []*Host) uint64 {
	var t uint64
	for _, h := range hosts {
		t += h.Node.Stats().Timeouts
	}
	return t
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
