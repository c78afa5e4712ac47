package piece

import "time"

// DepthConfig sets how many requests are kept outstanding at one peer. A fixed queue
// starves fast peers (a 100 MB/s peer with 50 ms round trip needs ~300 blocks in flight)
// and over-commits slow ones (their blocks time out and are fetched twice), so the depth
// follows the peer's measured rate: rate x Target / BlockSize, clamped to [Min, Max].
//
// A rate takes a second or two to measure, and at Min requests a connection is held to
// Min blocks per round trip: 4 blocks over a 250 µs loopback round trip through both
// processes' goroutines is 260 MB/s, and over 50 ms 1.3 MB/s. Until the rate is known the
// depth grows as TCP's window does in slow start: Min plus one for every block the peer
// has delivered, so it doubles each round trip, and only as fast as the peer proves it
// can deliver.
type DepthConfig struct {
	// Min is the depth for a peer with no rate yet (a new or idle connection). 4 lets a new
	// peer prove itself without tying up many blocks.
	Min int
	// Max caps the queue; libtorrent's default max_out_request_queue is 500, and most
	// clients accept at least 250 queued requests (Transmission announces reqq 512).
	Max int
	// Target is how much time worth of data to keep in flight: the bandwidth-delay product
	// needs about one round trip, plus slack for the peer's disk and our loop. libtorrent's
	// request_queue_time is 3 s.
	Target time.Duration
	// SnubTimeout: a peer that sent no block for this long while we had requests
	// outstanding is snubbed and gets depth 1 (libtorrent and Transmission use 60 s).
	SnubTimeout time.Duration
}

// DefaultDepth returns the depth rule the session uses unless told otherwise.
func DefaultDepth() DepthConfig {
	return DepthConfig{Min: 4, Max: 500, Target: 3 * time.Second, SnubTimeout: 60 * time.Second}
}

// Depth returns the number of requests to keep outstanding at a peer that delivers
// rateBytesPerSec (0 until measured), has delivered the payload bytes delivered so far,
// and is or is not snubbed.
func (c DepthConfig) Depth(rateBytesPerSec float64, delivered int64, snubbed bool) int {
	if snubbed {
		return 1
	}
	lo, hi := max(c.Min, 1), max(c.Max, max(c.Min, 1))
	if !(rateBytesPerSec > 0) { // also catches NaN
		// Slow start; compared before adding, so a huge count cannot overflow.
		if blocks := max(delivered, 0) / BlockSize; blocks < int64(hi-lo) {
			return lo + int(blocks)
		}
		return hi
	}
	d := rateBytesPerSec * c.Target.Seconds() / BlockSize
	if d >= float64(hi) { // compare as float: a huge rate would overflow int
		return hi
	}
	return max(lo, int(d+0.5))
}

// Snubbed reports whether a peer is snubbed at now: it has requests outstanding and its
// last block (or, if none came yet, our first request) is older than SnubTimeout.
func (c DepthConfig) Snubbed(outstanding int, lastBlock, now time.Time) bool {
	return outstanding > 0 && c.SnubTimeout > 0 && now.Sub(lastBlock) >= c.SnubTimeout
}
