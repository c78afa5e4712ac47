package dht

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/speedbt/btt/dht/krpc"
)

// BEP 51 (DHT infohash indexing): sample_infohashes asks a node for a random sample of the
// info-hashes it stores peers for, with the total count and how long to wait before asking
// again, plus the usual closest nodes so a crawler can walk the DHT.

// sampleInterval is the "interval" we ask samplers to wait before asking us again. BEP 51
// caps it at 6 hours; our store turns over with announces (30-minute TTLs), so 10 minutes
// lets a crawler see changes without making us a target for constant polling.
const sampleInterval = 10 * time.Minute

// maxSamples bounds the sample: 20 info-hashes (400 bytes) fit beside 8 nodes within the
// reply bound (MaxResponseFactor times a ~100-byte query); answerSample trims further if not.
const maxSamples = 20

// sample returns up to max live info-hashes (a uniform random choice) and how many there are.
func (s *peerStore) sample(now time.Time, max int, rng interface{ IntN(int) int }) ([]ID, int) {
	s.sweep(now)
	out := make([]ID, 0, min(max, len(s.swarms)))
	seen := 0
	for ih := range s.swarms {
		seen++
		if len(out) < max {
			out = append(out, ih)
		} else if j := rng.IntN(seen); j < max {
			out[j] = ih
		}
	}
	return out, len(s.swarms)
}

// answerSample completes and sends a sample_infohashes reply whose nodes are already in r.
// It holds the node's lock (called from handleQuery).
func (n *Node) answerSample(r *krpc.Return, m *krpc.Msg, from netip.AddrPort, qlen int, now time.Time) {
	ids, num := n.store.sample(now, maxSamples, n.rng)
	limit := n.cfg.MaxResponseFactor * qlen
	for {
		samples := make([]byte, 0, len(ids)*20)
		for _, id := range ids {
			samples = append(samples, id[:]...)
		}
		r.Extra = map[string][]byte{
			"interval": []byte("i" + strconv.Itoa(int(sampleInterval/time.Second)) + "e"),
			"num":      []byte("i" + strconv.Itoa(num) + "e"),
			"samples":  append([]byte(strconv.Itoa(len(samples))+":"), samples...),
		}
		resp := krpc.Msg{T: m.T, Y: krpc.TypeResponse, R: r, IP: from, V: n.cfg.Version}
		b, err := resp.Append(make([]byte, 0, 1024))
		if err != nil {
			return
		}
		if len(b) <= limit {
			n.send(b, from)
			return
		}
		switch {
		case len(ids) > 0:
			ids = ids[:len(ids)-1]
		case len(r.Nodes6) > 0:
			r.Nodes6 = r.Nodes6[:len(r.Nodes6)-1]
		case len(r.Nodes) > 0:
			r.Nodes = r.Nodes[:len(r.Nodes)-1]
		default:
			return
		}
	}
}
