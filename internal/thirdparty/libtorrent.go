package thirdparty

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty/ltdriver"
)

// startTimeout bounds how long a tool may take to come up (bind its port).
const startTimeout = 20 * time.Second

// commandTimeout bounds one request/reply exchange with the libtorrent driver.
const commandTimeout = 10 * time.Second

// LTConfig configures one libtorrent session holding one torrent.
type LTConfig struct {
	// Listen is "IP:PORT" for libtorrent's listen_interfaces (TCP and uTP share
	// it; so does the DHT). Required: use testutil.FreePort. Port 0 lets
	// libtorrent pick; LT.Port reports what it picked.
	Listen string

	// Torrent is the path of a .torrent file; Magnet a magnet URI. Exactly one.
	Torrent string
	Magnet  string

	// SavePath is where the torrent's files are (seeding) or go (downloading).
	// Defaults to a fresh temporary directory.
	SavePath string

	// Seed says the data is already in SavePath: after checking it, the driver
	// reports an error event if libtorrent does not find every piece.
	Seed bool

	// TCP and UTP pick the transports, both for dialling and accepting. If both
	// are false both are enabled.
	TCP, UTP bool

	// Peers are "IP:PORT" addresses to connect to once the torrent is added
	// (handle.connect_peer). More can be added later with ConnectPeer.
	Peers []string

	// Trackers are announce URLs added to the torrent.
	Trackers []string

	// DHT is off unless DHT.Enable; it never bootstraps from the internet.
	DHT LTDHT

	// PEX enables ut_pex for the torrent (off by default so tests see only the
	// peers they arranged).
	PEX bool

	// ChokeLocal makes 127.0.0.0/8 peers subject to unchoke slots. libtorrent
	// puts loopback peers in its "local" peer class, which by default is never
	// choked; choking tests need this.
	ChokeLocal bool

	// SocketBuffers sets send and receive socket buffers in bytes (0: the
	// default). uTP on loopback needs about 4 MiB to avoid UDP drops.
	SocketBuffers int

	// PieceStats makes the driver report every verified piece; see LT.Pieces.
	PieceStats bool

	// Settings are extra libtorrent settings_pack entries, applied last
	// (e.g. "unchoke_slots_limit": 1).
	Settings map[string]any

	// Encryption is libtorrent's MSE/PE stance. The zero value keeps the wire
	// plain (pe_disabled both ways), as every other test expects.
	Encryption LTEncryption
}

// LTEncryption is a libtorrent MSE/PE policy.
type LTEncryption int

const (
	LTPlain      LTEncryption = iota // in/out_enc_policy = pe_disabled
	LTEnabled                        // pe_enabled both ways, any level: libtorrent's default
	LTRequireRC4                     // pe_forced both ways, allowed_enc_level = pe_rc4
)

// settings are the settings_pack entries for the policy.
func (e LTEncryption) settings() map[string]any {
	switch e {
	case LTEnabled:
		// pe_enabled = 1; allowed_enc_level pe_both = 3.
		return map[string]any{"in_enc_policy": 1, "out_enc_policy": 1, "allowed_enc_level": 3}
	case LTRequireRC4:
		// pe_forced = 0; pe_rc4 = 2 (pe_plaintext = 1); prefer_rc4 so it never picks plaintext.
		return map[string]any{"in_enc_policy": 0, "out_enc_policy": 0, "allowed_enc_level": 2, "prefer_rc4": true}
	}
	return nil
}

// LTDHT configures libtorrent's DHT. It shares the session's listen port (UDP).
type LTDHT struct {
	Enable bool
	// Nodes seed the routing table (session.add_dht_node), "IP:PORT".
	Nodes []string
}

// LTPeer is one connection as libtorrent's get_peer_info sees it.
type LTPeer struct {
	Addr           string `json:"addr"`
	Client         string `json:"client"`
	UTP            bool   `json:"utp"`
	RC4            bool   `json:"rc4"`             // the connection's payload stream is RC4 (MSE)
	MSEPlaintext   bool   `json:"mse_plaintext"`   // MSE handshake, plaintext payload
	WeChoke        bool   `json:"we_choke"`        // libtorrent is choking the peer
	WeInterested   bool   `json:"we_interested"`   // libtorrent is interested in the peer
	TheyChoke      bool   `json:"they_choke"`      // the peer is choking libtorrent
	TheyInterested bool   `json:"they_interested"` // the peer is interested in libtorrent
	Seed           bool   `json:"seed"`
	UpRate         int64  `json:"up_rate"` // payload bytes/s
	DownRate       int64  `json:"down_rate"`
	TotalUp        int64  `json:"total_up"` // bytes sent to the peer on this connection
	TotalDown      int64  `json:"total_down"`
}

// LTStatus is a snapshot of the torrent (handle.status()) and its peers.
type LTStatus struct {
	State            string   `json:"state"`
	Progress         float64  `json:"progress"` // 0..1
	NumPieces        int      `json:"num_pieces"`
	IsSeeding        bool     `json:"is_seeding"`
	IsFinished       bool     `json:"is_finished"`
	HasMetadata      bool     `json:"has_metadata"`
	NumPeers         int      `json:"num_peers"`
	UpRate           int64    `json:"up_rate"` // payload bytes/s
	DownRate         int64    `json:"down_rate"`
	TotalPayloadUp   int64    `json:"total_payload_up"` // payload bytes since the torrent was added
	TotalPayloadDown int64    `json:"total_payload_down"`
	TotalWantedDone  int64    `json:"total_wanted_done"`
	TotalWanted      int64    `json:"total_wanted"`
	Peers            []LTPeer `json:"peers"`
	CPUSeconds       float64  `json:"cpu_seconds"` // user+system CPU of the libtorrent process so far
	Error            string   `json:"error"`
}

// LT is a running libtorrent session driven by ltdriver.py.
type LT struct {
	t    testing.TB
	p    *proc
	host string
	port int

	stdin   io.WriteCloser
	writeMu sync.Mutex
	nextID  int

	mu      sync.Mutex
	replies map[int]chan json.RawMessage
	pieces  []int
	errs    []string

	ready, metadata, checked, finished, seeding, announced, failed chan struct{}
	exited                                                         chan struct{}  // stdout closed
	samples                                                        chan LTSamples // BEP 51 replies (SampleInfohashes), capacity 1
}

type ltEvent struct {
	Event string `json:"event"`
	ID    int    `json:"id"`
	Port  int    `json:"port"`
	Index int    `json:"index"`
	Msg   string `json:"msg"`
	Err   string `json:"err"`
}

// StartLibtorrent starts a libtorrent session with one torrent and waits until
// it listens. It is stopped at test cleanup; if the test failed, its log (alerts
// and events) is copied into the test log.
func StartLibtorrent(t testing.TB, cfg LTConfig) *LT {
	t.Helper()
	testutil.NeedLibtorrent(t)
	needIsolatedNet(t)
	if (cfg.Torrent == "") == (cfg.Magnet == "") {
		t.Fatal("thirdparty: LTConfig needs exactly one of Torrent and Magnet")
	}
	if cfg.Listen == "" {
		t.Fatal("thirdparty: LTConfig.Listen is required (e.g. 127.0.0.1:PORT)")
	}
	dir := t.TempDir()
	if cfg.SavePath == "" {
		cfg.SavePath = filepath.Join(dir, "data")
	}
	if !cfg.TCP && !cfg.UTP {
		cfg.TCP, cfg.UTP = true, true
	}
	if enc := cfg.Encryption.settings(); enc != nil {
		merged := map[string]any{}
		for k, v := range enc {
			merged[k] = v
		}
		for k, v := range cfg.Settings {
			merged[k] = v
		}
		cfg.Settings = merged
	}
	if cfg.Torrent != "" {
		abs, err := filepath.Abs(cfg.Torrent)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Torrent = abs
	}
	js, err := json.MarshalIndent(map[string]any{
		"listen":         cfg.Listen,
		"torrent":        cfg.Torrent,
		"magnet":         cfg.Magnet,
		"save_path":      cfg.SavePath,
		"seed":           cfg.Seed,
		"tcp":            cfg.TCP,
		"utp":            cfg.UTP,
		"peers":          cfg.Peers,
		"trackers":       cfg.Trackers,
		"dht":            map[string]any{"enable": cfg.DHT.Enable, "nodes": cfg.DHT.Nodes},
		"pex":            cfg.PEX,
		"choke_local":    cfg.ChokeLocal,
		"socket_buffers": cfg.SocketBuffers,
		"piece_stats":    cfg.PieceStats,
		"settings":       cfg.Settings,
	}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.json")
	drvPath := filepath.Join(dir, "ltdriver.py")
	if err := os.WriteFile(cfgPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(drvPath, ltdriver.Script, 0o644); err != nil {
		t.Fatal(err)
	}

	// -u: unbuffered, so events and log lines arrive as they happen.
	cmd := exec.Command(testutil.Python, "-u", drvPath, cfgPath)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		t.Fatalf("thirdparty: LTConfig.Listen %q: %v", cfg.Listen, err)
	}
	lt := &LT{
		t: t, host: host, stdin: stdin, replies: map[int]chan json.RawMessage{},
		ready: make(chan struct{}), metadata: make(chan struct{}), checked: make(chan struct{}),
		finished: make(chan struct{}), seeding: make(chan struct{}), announced: make(chan struct{}),
		failed: make(chan struct{}), exited: make(chan struct{}), samples: make(chan LTSamples, 1),
	}
	lt.p = startProc(t, "libtorrent-"+filepath.Base(cfg.Listen), dir, cmd, true)
	fmt.Fprintf(lt.p.logFile, "# config %s\n", js)
	go lt.readEvents(stdout)
	t.Cleanup(lt.Stop) // runs before startProc's cleanup: stop gracefully first

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := lt.waitFor(ctx, lt.ready, "ready"); err != nil {
		t.Fatal(err)
	}
	if lt.port == 0 {
		t.Fatalf("libtorrent: not listening on %s: %v", cfg.Listen, lt.Errors())
	}
	return lt
}

// readEvents parses the driver's JSON lines, copying each into the log.
func (lt *LT) readEvents(r io.Reader) {
	defer close(lt.exited)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20) // a status with many peers is long
	for sc.Scan() {
		line := sc.Bytes()
		fmt.Fprintf(lt.p.logFile, "event %s\n", line)
		var ev ltEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			lt.addErr(fmt.Sprintf("bad driver output %q: %v", line, err))
			continue
		}
		switch ev.Event {
		case "ready":
			lt.port = ev.Port
			closeOnce(lt.ready)
		case "metadata":
			closeOnce(lt.metadata)
		case "checked":
			closeOnce(lt.checked)
		case "finished":
			closeOnce(lt.finished)
		case "seeding":
			closeOnce(lt.seeding)
		case "tracker_reply":
			closeOnce(lt.announced)
		case "dht_samples":
			var smp LTSamples
			if err := json.Unmarshal(line, &smp); err == nil {
				select {
				case lt.samples <- smp:
				default: // nobody asked, or an answer is already waiting
				}
			}
		case "piece":
			lt.mu.Lock()
			lt.pieces = append(lt.pieces, ev.Index)
			lt.mu.Unlock()
		case "error":
			lt.addErr(ev.Msg)
		case "reply":
			lt.mu.Lock()
			ch := lt.replies[ev.ID]
			delete(lt.replies, ev.ID)
			lt.mu.Unlock()
			if ch != nil {
				ch <- append(json.RawMessage(nil), line...)
			}
		}
	}
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

func (lt *LT) addErr(msg string) {
	lt.mu.Lock()
	lt.errs = append(lt.errs, msg)
	lt.mu.Unlock()
	closeOnce(lt.failed)
}

// Errors returns the error events the driver reported (torrent, file and
// listen errors, data that does not match a torrent being seeded).
func (lt *LT) Errors() []string {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return append([]string(nil), lt.errs...)
}

// waitFor waits for c, failing early on an error event or if the driver dies.
func (lt *LT) waitFor(ctx context.Context, c chan struct{}, what string) error {
	select {
	case <-c:
		return nil
	default:
	}
	select {
	case <-c:
		return nil
	case <-lt.failed:
		return fmt.Errorf("libtorrent %s: waiting for %s: %v", lt.Addr(), what, lt.Errors())
	case <-lt.exited:
		return fmt.Errorf("libtorrent %s: driver exited before %s", lt.Addr(), what)
	case <-ctx.Done():
		return fmt.Errorf("libtorrent %s: waiting for %s: %w", lt.Addr(), what, ctx.Err())
	}
}

// Port is the port libtorrent listens on.
func (lt *LT) Port() int { return lt.port }

// Addr is the address peers can dial, "IP:PORT".
func (lt *LT) Addr() string {
	return net.JoinHostPort(lt.host, strconv.Itoa(lt.port))
}

// WaitSeeding waits until the torrent is seeding (all pieces verified).
func (lt *LT) WaitSeeding(ctx context.Context) error { return lt.waitFor(ctx, lt.seeding, "seeding") }

// WaitFinished waits until every wanted piece is downloaded and verified.
func (lt *LT) WaitFinished(ctx context.Context) error {
	return lt.waitFor(ctx, lt.finished, "finished")
}

// WaitMetadata waits until a magnet torrent has its info dictionary.
func (lt *LT) WaitMetadata(ctx context.Context) error {
	return lt.waitFor(ctx, lt.metadata, "metadata")
}

// WaitAnnounced waits for the first successful tracker reply.
func (lt *LT) WaitAnnounced(ctx context.Context) error {
	return lt.waitFor(ctx, lt.announced, "tracker reply")
}

// Pieces returns the indexes of pieces verified so far, in order (PieceStats).
func (lt *LT) Pieces() []int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return append([]int(nil), lt.pieces...)
}

// call sends one command and waits for its reply.
func (lt *LT) call(ctx context.Context, cmd map[string]any) (json.RawMessage, error) {
	ch := make(chan json.RawMessage, 1)
	lt.writeMu.Lock()
	lt.nextID++
	id := lt.nextID
	lt.mu.Lock()
	lt.replies[id] = ch
	lt.mu.Unlock()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	_, err := lt.stdin.Write(append(b, '\n'))
	lt.writeMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("libtorrent: send %v: %w", cmd["cmd"], err)
	}
	select {
	case r := <-ch:
		var e ltEvent
		if err := json.Unmarshal(r, &e); err == nil && e.Err != "" {
			return nil, fmt.Errorf("libtorrent: %v: %s", cmd["cmd"], e.Err)
		}
		return r, nil
	case <-lt.exited:
		return nil, fmt.Errorf("libtorrent: driver exited during %v", cmd["cmd"])
	case <-ctx.Done():
		return nil, fmt.Errorf("libtorrent: %v: %w", cmd["cmd"], ctx.Err())
	}
}

func (lt *LT) callT(cmd map[string]any) json.RawMessage {
	lt.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	r, err := lt.call(ctx, cmd)
	if err != nil {
		lt.t.Fatal(err)
	}
	return r
}

// ConnectPeer makes libtorrent dial addr ("IP:PORT").
func (lt *LT) ConnectPeer(addr string) {
	lt.t.Helper()
	lt.callT(map[string]any{"cmd": "connect", "addr": addr})
}

// AddDHTNode adds addr ("IP:PORT") to libtorrent's DHT routing table.
func (lt *LT) AddDHTNode(addr string) {
	lt.t.Helper()
	lt.callT(map[string]any{"cmd": "add_dht_node", "addr": addr})
}

// ForceDHTAnnounce makes libtorrent look the torrent up in the DHT (and announce it) now.
// Its first lookup may run before its routing table has a node, and the next comes only
// after dht_announce_interval (15 minutes).
func (lt *LT) ForceDHTAnnounce() {
	lt.t.Helper()
	lt.callT(map[string]any{"cmd": "force_dht_announce"})
}

// LTSamples is libtorrent's view of a BEP 51 sample_infohashes reply.
type LTSamples struct {
	Num      int      `json:"num"`      // info-hashes the node says it stores
	Interval int      `json:"interval"` // seconds before asking again
	Samples  []string `json:"samples"`  // hex info-hashes
}

// SampleInfohashes makes libtorrent send a BEP 51 sample_infohashes query to addr and
// returns what it decoded from the reply.
func (lt *LT) SampleInfohashes(ctx context.Context, addr, targetHex string) (LTSamples, error) {
	lt.t.Helper()
	lt.callT(map[string]any{"cmd": "sample_infohashes", "addr": addr, "target": targetHex})
	select {
	case s := <-lt.samples:
		return s, nil
	case <-ctx.Done():
		return LTSamples{}, fmt.Errorf("libtorrent: no sample_infohashes reply from %s: %w", addr, ctx.Err())
	}
}

// Status returns a snapshot of the torrent and its peers.
func (lt *LT) Status() LTStatus {
	lt.t.Helper()
	var st LTStatus
	if err := json.Unmarshal(lt.callT(map[string]any{"cmd": "status"}), &st); err != nil {
		lt.t.Fatalf("libtorrent status: %v", err)
	}
	return st
}

// Stop removes the torrent (announcing event=stopped) and ends the session,
// killing it if it does not exit within a few seconds. Safe to call twice;
// cleanup calls it.
func (lt *LT) Stop() {
	if lt.p.exited() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*stopGrace)
	defer cancel()
	if _, err := lt.call(ctx, map[string]any{"cmd": "stop"}); err == nil {
		lt.stdin.Close()
		if lt.p.wait(ctx) == nil {
			return
		}
	}
	lt.p.stop()
}

// CPUSeconds is the CPU time the process used; after Stop it is exact (rusage).
func (lt *LT) CPUSeconds() float64 { return lt.p.cpuSeconds() }

// statusPoll is how often WaitStatus asks the driver for a status.
const statusPoll = 100 * time.Millisecond

// WaitStatus polls Status until cond holds, bounded by ctx, and returns the
// status that satisfied it. Use it for states no event reports, e.g. "a peer
// is connected and interested".
func (lt *LT) WaitStatus(ctx context.Context, cond func(LTStatus) bool) (LTStatus, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		raw, err := lt.call(cctx, map[string]any{"cmd": "status"})
		cancel()
		if err != nil {
			return LTStatus{}, err
		}
		var st LTStatus
		if err := json.Unmarshal(raw, &st); err != nil {
			return LTStatus{}, fmt.Errorf("libtorrent status: %w", err)
		}
		if cond(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("libtorrent %s: waiting for status condition: %w (last: progress %.3f, %d peers)",
				lt.Addr(), ctx.Err(), st.Progress, st.NumPeers)
		case <-lt.exited:
			return st, fmt.Errorf("libtorrent %s: driver exited while waiting for status condition", lt.Addr())
		case <-time.After(statusPoll):
		}
	}
}
