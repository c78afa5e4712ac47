package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/speedbt/btt/peer/utp"
	"github.com/speedbt/btt/wire/metainfo"
)

// defaultDepth is how many block requests each downloader keeps in flight: 64 blocks
// (1 MiB) fill a loopback connection at a few GB/s with a millisecond of queueing, about
// what libtorrent asks of a fast peer.
const defaultDepth = 64

// dialTimeout bounds one connect (TCP or uTP).
const dialTimeout = 10 * time.Second

// maxPeers bounds ConnectConfig.Peers: each downloader is a socket and a goroutine.
const maxPeers = 5000

// ConnectConfig describes one run of the connection tester.
type ConnectConfig struct {
	Info     *metainfo.Info
	Addr     string        // the seeder, HOST:PORT
	Peers    int           // downloaders, each on its own connection
	Duration time.Duration // how long to download once connected
	Verify   bool          // keep each piece and check its SHA-1
	UTP      bool          // dial over uTP instead of TCP
	Depth    int           // requests in flight per downloader (0: defaultDepth)
	// SourceIP, if set, gives downloader i its local address (e.g. 127.0.0.x), so a seeder
	// that allows one connection per address still takes them all.
	SourceIP func(i int) string
	// SeederPID, if not 0, is sampled for CPU and memory while the run lasts.
	SeederPID int
	// Progress, if set, is called about once a second with the run so far.
	Progress func(Progress)
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Elapsed   time.Duration
	Connected int
	Bytes     int64
	MBps      float64 // over the last interval, decimal MB/s
}

// PeerResult is one downloader's outcome.
type PeerResult struct {
	Local    string  `json:"local"`
	Bytes    int64   `json:"bytes"`
	MBps     float64 `json:"mbps"`
	Requests int64   `json:"requests"`
	Verified int64   `json:"verified_pieces,omitempty"`
	Err      string  `json:"error,omitempty"`
}

// ConnectResult is what the connection tester measured.
type ConnectResult struct {
	Addr      string       `json:"addr"`
	Transport string       `json:"transport"`
	Peers     int          `json:"peers"`
	Connected int          `json:"connected"`
	Seconds   float64      `json:"seconds"`
	Bytes     int64        `json:"bytes"`
	MBps      float64      `json:"mbps"`
	PeerMin   float64      `json:"peer_mbps_min"`
	PeerMax   float64      `json:"peer_mbps_max"`
	Jain      float64      `json:"jain"` // fairness of per-peer bytes, 1 = all equal
	P50ms     float64      `json:"latency_p50_ms"`
	P99ms     float64      `json:"latency_p99_ms"`
	Verify    bool         `json:"verify"`
	Verified  int64        `json:"verified_pieces"`
	HashFails int64        `json:"hash_failures"`
	Seeder    *Usage       `json:"seeder,omitempty"`
	PerPeer   []PeerResult `json:"per_peer"`
}

// Connect runs cfg.Peers lightweight downloaders against cfg.Addr for cfg.Duration (from
// the moment the first one connects, so start-up is not counted as idle time) and reports
// what they got. It fails only if no downloader connected; each one's own error is in
// PerPeer.
func Connect(ctx context.Context, cfg ConnectConfig) (*ConnectResult, error) {
	if cfg.Info == nil || !cfg.Info.HasV1() {
		return nil, errors.New("bench: the torrent needs v1 piece hashes")
	}
	if cfg.Peers <= 0 || cfg.Peers > maxPeers {
		return nil, fmt.Errorf("bench: %d peers; want 1..%d", cfg.Peers, maxPeers)
	}
	if cfg.Duration <= 0 {
		return nil, errors.New("bench: duration must be positive")
	}
	// The whole run is bounded: connecting, then Duration of downloading.
	runCtx, cancel := context.WithTimeout(ctx, dialTimeout+cfg.Duration)
	defer cancel()

	var seeder *sampleProc
	if cfg.SeederPID != 0 {
		var err error
		if seeder, err = startSample(cfg.SeederPID); err != nil {
			return nil, err
		}
	}

	ls := make([]*leecher, cfg.Peers)
	errs := make([]error, cfg.Peers)
	locals := make([]string, cfg.Peers)
	var wg sync.WaitGroup
	var sockets []*utp.Socket
	var sockMu sync.Mutex
	defer func() {
		for _, s := range sockets {
			s.Close()
		}
	}()
	// dlCtx ends Duration after the first connection; until then runCtx bounds the wait.
	dlCtx, dlCancel := context.WithCancel(runCtx)
	defer dlCancel()
	var firstOnce sync.Once
	var start time.Time
	firstConnected := make(chan struct{})
	for i := range cfg.Peers {
		ls[i] = newLeecher(i, cfg.Peers, cfg.Info, cfg.Verify, cfg.Depth)
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := ""
			if cfg.SourceIP != nil {
				src = cfg.SourceIP(i)
			}
			c, err := dial(runCtx, cfg.UTP, src, cfg.Addr, func(s *utp.Socket) {
				sockMu.Lock()
				sockets = append(sockets, s)
				sockMu.Unlock()
			})
			if err != nil {
				errs[i] = err
				return
			}
			locals[i] = c.LocalAddr().String()
			firstOnce.Do(func() {
				start = time.Now()
				close(firstConnected)
				time.AfterFunc(cfg.Duration, dlCancel)
			})
			errs[i] = ls[i].run(dlCtx, c)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var seedCPU0 float64
	select {
	case <-firstConnected:
		if seeder != nil {
			seedCPU0, _ = seeder.cpu()
		}
	case <-done:
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastBytes int64
	lastT := time.Now()
wait:
	for {
		select {
		case <-done:
			break wait
		case now := <-tick.C:
			if seeder != nil {
				seeder.sample()
			}
			if cfg.Progress == nil {
				continue
			}
			var p Progress
			for _, l := range ls {
				p.Bytes += l.bytes.Load()
				if l.connected.Load() {
					p.Connected++
				}
			}
			if !start.IsZero() {
				p.Elapsed = now.Sub(start)
			}
			p.MBps = float64(p.Bytes-lastBytes) / now.Sub(lastT).Seconds() / 1e6
			lastBytes, lastT = p.Bytes, now
			cfg.Progress(p)
		}
	}
	if start.IsZero() {
		return nil, fmt.Errorf("bench: no downloader connected to %s: %w", cfg.Addr, errors.Join(errs...))
	}
	elapsed := time.Since(start)
	res := &ConnectResult{Addr: cfg.Addr, Transport: "tcp", Peers: cfg.Peers, Seconds: elapsed.Seconds(), Verify: cfg.Verify}
	if cfg.UTP {
		res.Transport = "utp"
	}
	var lat []time.Duration
	var rates []float64
	for i, l := range ls {
		pr := PeerResult{Local: locals[i], Bytes: l.bytes.Load(), Requests: l.requests.Load(), Verified: l.verified.Load()}
		pr.MBps = l.rate(elapsed) / 1e6
		if errs[i] != nil {
			pr.Err = errs[i].Error()
		}
		if l.connected.Load() {
			res.Connected++
		}
		res.Bytes += pr.Bytes
		res.Verified += pr.Verified
		res.HashFails += l.hashFails.Load()
		rates = append(rates, pr.MBps)
		lat = append(lat, l.lat.keep...)
		res.PerPeer = append(res.PerPeer, pr)
	}
	res.MBps = float64(res.Bytes) / elapsed.Seconds() / 1e6
	res.PeerMin, res.PeerMax = MinMax(rates)
	res.Jain = Jain(rates)
	res.P50ms = float64(Percentile(lat, 50)) / 1e6
	res.P99ms = float64(Percentile(lat, 99)) / 1e6
	if seeder != nil {
		u, err := seeder.finish(seedCPU0, res.Bytes)
		if err != nil {
			return nil, err
		}
		res.Seeder = u
	}
	return res, nil
}

// dial connects to addr over TCP or uTP, from src if not empty. A uTP socket is handed to
// keep, which closes it after the run.
func dial(ctx context.Context, overUTP bool, src, addr string, keep func(*utp.Socket)) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if overUTP {
		s, err := utp.Listen("udp", net.JoinHostPort(src, "0"), utp.Config{})
		if err != nil {
			return nil, fmt.Errorf("utp socket on %s: %w", src, err)
		}
		keep(s)
		return s.DialContext(ctx, addr)
	}
	var d net.Dialer
	if src != "" {
		ip := net.ParseIP(src)
		if ip == nil {
			return nil, fmt.Errorf("source address %q is not an IP", src)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d.DialContext(ctx, "tcp", addr)
}
