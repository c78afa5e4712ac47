package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/speedbt/btt/bidext"
	"github.com/speedbt/btt/peer"
	"github.com/speedbt/btt/peer/mse"
	"github.com/speedbt/btt/wire/magnet"
	"github.com/speedbt/btt/wire/metainfo"
)

// Config configures a Daemon.
type Config struct {
	// Dir is the state directory (created if missing).
	Dir string
	// Listen is the peer address ("127.0.0.1:51413").
	Listen string
	// DownloadDir is where torrents go when the state has no folder yet and an add names none;
	// empty means Dir/downloads.
	DownloadDir string
	// Logger receives session and torrent events; nil discards them.
	Logger *slog.Logger
	// Override, if set, changes the loaded settings before the session opens (command-line
	// flags beat what was saved); the result is saved.
	Override func(*Settings)
	// SpeedConfig turns Speed settings into the session's; nil runs without Speed. It is
	// called again whenever the Speed settings change over RPC. ctx ends with the session.
	// ledgerHTTP is the HTTP client every ledger call should go through, so that it is
	// counted in /metrics (LedgerCalls); the daemon puts it in the result's LedgerHTTP too.
	SpeedConfig func(ctx context.Context, s SpeedSettings, ledgerHTTP *http.Client) (peer.SpeedConfig, error)
	// Peer holds session tunables not kept in Settings (upload slots, rechoke interval);
	// its connection limits and upload limit are replaced by the settings'.
	Peer peer.Settings
	// CheckWorkers bounds torrents checking their files at once (0: 2). Transmission checks
	// one at a time; two keeps both cores of a small machine busy at start-up.
	CheckWorkers int
	// Encryption is the session's MSE/PE policy (btt daemon --encryption).
	Encryption mse.Policy
}

// Limits of the daemon.
const (
	// MaxTorrents bounds the torrent table: each costs a loop, two disk workers and its
	// per-torrent state while running (measured in transmission.BenchmarkTorrentList).
	MaxTorrents = 10000
	// saveInterval is how often counters are written to state.json while nothing else
	// changes; a kill loses at most this much of the upload/download totals.
	saveInterval = 30 * time.Second
	// tickInterval is how often rates, activity and seeding limits are brought up to date.
	tickInterval = time.Second
)

// Errors callers branch on.
var (
	ErrDuplicate = errors.New("daemon: torrent already added")
	ErrTooMany   = errors.New("daemon: too many torrents")
	ErrClosed    = errors.New("daemon: closed")
)

// phase is what a torrent is doing.
type phase int

const (
	phaseStopped phase = iota
	phaseCheckWait
	phaseChecking
	phaseFetching // a magnet's metadata
	phaseRunning
)

// entry is one torrent. Its fields are guarded by Daemon.mu; ops serialises the slow work
// (adding to the session, closing) done outside that lock.
type entry struct {
	rec      torrentRecord
	mi       *metainfo.MetaInfo  // nil for a magnet
	mag      *magnet.Magnet      // nil unless added by magnet
	info     *metainfo.Info      // nil until a magnet's metadata is known
	layers   map[[32]byte][]byte // a v2 torrent's piece layers: the .torrent's, or fetched for a magnet
	trackers [][]string

	phase   phase
	t       *peer.Torrent
	gen     int // bumped by every start, stop and removal: a late start compares it
	cancel  context.CancelFunc
	removed bool

	ops     sync.Mutex
	toClose []*peer.Torrent // detached but not yet closed; drained by whoever holds ops next

	base       peer.Stats // the running torrent's counters already added to rec (at detach)
	last       peer.Stats // last snapshot, kept while stopped for progress
	startedAt  time.Time
	sampleAt   time.Time
	rateUp     float64
	rateDown   float64
	peers      peer.PeerSummary
	speed      peer.SpeedStatus // last taken by the tick, while Speed is on
	seedingAcc time.Duration    // seeding time of this run not yet in rec
	haveSnap   []bool           // verified pieces when the torrent last closed
}

// Daemon hosts torrents in one peer session.
type Daemon struct {
	cfg    Config
	log    *slog.Logger
	ledger *LedgerCalls

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	check  chan struct{} // semaphore of file checks

	// ctl serialises the public methods that change what runs, so that a session reopen
	// (peer limits, Speed) sees no start slip in half-way.
	ctl sync.Mutex

	sessMu      sync.RWMutex // guards sess: read-held while adding a torrent to it
	sess        *peer.Session
	sessCancel  context.CancelFunc
	startedAt   time.Time
	sessionUp   int64 // bytes of torrents closed in this daemon run (session-stats current)
	sessionDown int64

	mu       sync.Mutex
	closed   bool
	settings Settings
	nextID   int
	entries  map[int]*entry
	byHash   map[string]*entry
	totals   Totals
	dirty    bool
	lastSave time.Time
	removed  []removal // recent removals, oldest first, for the RPC's recently-active
}

// removal is a torrent removed at a time.
type removal struct {
	id int
	at time.Time
}

// Bounds of the removal log: Transmission's clients poll every few seconds, so a minute of
// removals is plenty, and no more than maxRemovals are kept however fast they come.
const (
	removalWindow = time.Minute
	maxRemovals   = 1024
)

// Open loads the state directory, opens the peer session and starts every torrent that was
// running when the daemon last stopped.
func Open(cfg Config) (*Daemon, error) {
	if cfg.Dir == "" {
		return nil, errors.New("daemon: no state directory")
	}
	for _, sub := range []string{"", "torrents", "resume"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	if cfg.DownloadDir == "" {
		cfg.DownloadDir = filepath.Join(cfg.Dir, "downloads")
	}
	if cfg.CheckWorkers <= 0 {
		cfg.CheckWorkers = 2
	}
	d := &Daemon{
		cfg:       cfg,
		log:       cfg.Logger,
		check:     make(chan struct{}, cfg.CheckWorkers),
		entries:   map[int]*entry{},
		byHash:    map[string]*entry{},
		startedAt: time.Now(),
		ledger:    NewLedgerCalls(),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	st, found, err := loadState(d.statePath())
	if err != nil {
		return nil, err
	}
	if !found {
		st.Settings = defaultSettings(cfg.DownloadDir)
		st.NextID = 1
	}
	if cfg.Override != nil {
		cfg.Override(&st.Settings)
	}
	d.settings, d.nextID, d.totals = st.Settings, max(st.NextID, 1), st.Totals
	d.totals.SessionCount++
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if err := d.openSession(); err != nil {
		d.cancel()
		return nil, err
	}
	for _, rec := range st.Torrents {
		e, err := d.restore(rec)
		if err != nil {
			d.log.Error("daemon: dropping a torrent that cannot be restored", "id", rec.ID, "hash", rec.Hash, "err", err)
			continue
		}
		d.entries[e.rec.ID] = e
		d.byHash[e.rec.Hash] = e
		d.nextID = max(d.nextID, e.rec.ID+1)
	}
	d.mu.Lock()
	for _, id := range d.sortedIDs() {
		if e := d.entries[id]; !e.rec.Paused {
			d.startLocked(e)
		}
	}
	d.saveLocked()
	d.mu.Unlock()
	d.wg.Add(1)
	go d.tickLoop()
	return d, nil
}

func (d *Daemon) statePath() string { return filepath.Join(d.cfg.Dir, "state.json") }
func (d *Daemon) torrentPath(hash string) string {
	return filepath.Join(d.cfg.Dir, "torrents", hash+".torrent")
}
func (d *Daemon) resumePath(hash string) string {
	return filepath.Join(d.cfg.Dir, "resume", hash+".resume")
}

// restore rebuilds an entry from its record and the files beside it.
func (d *Daemon) restore(rec torrentRecord) (*entry, error) {
	e := &entry{rec: rec}
	if rec.Magnet != "" {
		m, err := magnet.Parse(rec.Magnet)
		if err != nil {
			return nil, err
		}
		e.mag = m
		for _, u := range m.Trackers {
			e.trackers = append(e.trackers, []string{u})
		}
		// A magnet whose metadata came in was kept as a .torrent with its piece layers
		// (resolved), so that it starts again without peers; before that there is none.
		if mi, err := metainfo.Load(d.torrentPath(rec.Hash)); err == nil && hashHex(mi.Info.Hash()) == rec.Hash {
			e.info, e.layers = mi.Info, mi.PieceLayers
		}
		return e, nil
	}
	mi, err := metainfo.Load(d.torrentPath(rec.Hash))
	if err != nil {
		return nil, err
	}
	e.mi, e.info, e.trackers, e.layers = mi, mi.Info, mi.Trackers(), mi.PieceLayers
	return e, nil
}

// resolved keeps a magnet's metadata, once known, as a .torrent beside the added ones: the
// info dictionary and, for a v2 torrent, the piece layers fetched from peers, without
// which its pieces cannot be checked after a restart.
func (d *Daemon) resolved(hash string, info *metainfo.Info, layers map[[32]byte][]byte) {
	b, err := (&metainfo.MetaInfo{Info: info, PieceLayers: layers}).Encode()
	if err == nil {
		err = writeFileAtomic(d.torrentPath(hash), b)
	}
	if err != nil {
		d.log.Warn("daemon: keeping a magnet's metadata", "hash", hash, "err", err)
	}
}

// magnetHash is the name a magnet's torrent has on the wire and in the RPC: its v1
// info-hash, or for a v2-only link (btmh without btih) the SHA-256 one truncated to 20
// bytes (BEP 52), as the peer session names it.
func magnetHash(m *magnet.Magnet) [20]byte {
	if m.HasV1 {
		return m.InfoHash
	}
	return [20]byte(m.InfoHashV2[:20])
}

// openSession opens the peer session with the current settings. Called without d.mu held
// by Open and reopen (which holds sessMu).
func (d *Daemon) openSession() error {
	d.mu.Lock()
	s := d.settings
	d.mu.Unlock()
	ctx, cancel := context.WithCancel(d.ctx)
	var sc peer.SpeedConfig
	if d.cfg.SpeedConfig != nil && s.Speed.Enabled {
		var err error
		hc := d.ledger.Client(nil)
		if sc, err = d.cfg.SpeedConfig(ctx, s.Speed, hc); err != nil {
			cancel()
			return err
		}
		if sc.LedgerHTTP == nil {
			sc.LedgerHTTP = hc
		}
	}
	ps := d.cfg.Peer
	ps.MaxConns, ps.MaxConnsPerTorrent = s.PeerLimitGlobal, s.PeerLimitPerTorrent
	ps.UploadRateLimit, ps.DownloadRateLimit = s.RateLimits()
	sess, err := peer.NewSession(peer.Config{Listen: d.cfg.Listen, Logger: d.log, Settings: ps, Speed: sc, Encryption: d.cfg.Encryption})
	if err != nil {
		cancel()
		return err
	}
	d.sess, d.sessCancel = sess, cancel
	return nil
}

// Addr is the peer listening address.
func (d *Daemon) Addr() string {
	d.sessMu.RLock()
	defer d.sessMu.RUnlock()
	if a := d.sess.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// Close stops every torrent (writing its resume data and sending stopped announces), saves
// the state and closes the session. Torrents that were running start again on the next Open.
func (d *Daemon) Close() error {
	// ctl only while marking closed: the tick loop takes it, and is waited for below.
	d.ctl.Lock()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.ctl.Unlock()
		return ErrClosed
	}
	d.closed = true
	for _, e := range d.entries {
		d.detachLocked(e)
	}
	d.mu.Unlock()
	d.ctl.Unlock()
	d.cancel()
	d.wg.Wait()
	for _, e := range d.allEntries() {
		e.ops.Lock()
		d.drainClose(e)
		e.ops.Unlock()
	}
	d.mu.Lock()
	d.totals.SecondsActive += int64(time.Since(d.startedAt).Seconds())
	err := d.saveLocked()
	d.mu.Unlock()
	d.sessMu.Lock()
	defer d.sessMu.Unlock()
	d.sessCancel()
	return errors.Join(err, d.sess.Close())
}

func (d *Daemon) allEntries() []*entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*entry, 0, len(d.entries))
	for _, e := range d.entries {
		out = append(out, e)
	}
	return out
}

func (d *Daemon) sortedIDs() []int {
	ids := make([]int, 0, len(d.entries))
	for id := range d.entries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// AddRequest is a torrent to add: exactly one of Metainfo (a .torrent's bytes) and Magnet.
type AddRequest struct {
	Metainfo    []byte
	Magnet      string
	DownloadDir string // empty: the session's
	Paused      bool
}

// Added says what an add did.
type Added struct {
	ID        int
	Name      string
	Hash      string
	Duplicate bool // the torrent was there already; nothing changed
}

// Add adds a torrent and, unless req.Paused, starts it. Adding one that is there already
// returns it with Duplicate set and no error.
func (d *Daemon) Add(req AddRequest) (Added, error) {
	e := &entry{}
	switch {
	case req.Metainfo != nil && req.Magnet == "":
		mi, err := metainfo.Parse(req.Metainfo)
		if err != nil {
			return Added{}, err
		}
		e.mi, e.info, e.trackers, e.layers = mi, mi.Info, mi.Trackers(), mi.PieceLayers
		e.rec.Hash = hashHex(mi.Info.Hash())
		e.rec.Name = mi.Info.Name
	case req.Magnet != "" && req.Metainfo == nil:
		m, err := magnet.Parse(req.Magnet)
		if err != nil {
			return Added{}, err
		}
		if !m.HasV1 && !m.HasV2 {
			return Added{}, errors.New("daemon: a magnet link needs a btih or a btmh")
		}
		e.mag = m
		for _, u := range m.Trackers {
			e.trackers = append(e.trackers, []string{u})
		}
		e.rec.Hash = hashHex(magnetHash(m))
		e.rec.Magnet = req.Magnet
		e.rec.Name = m.DisplayName
		if e.rec.Name == "" {
			e.rec.Name = e.rec.Hash
		}
	default:
		return Added{}, errors.New("daemon: give either a metainfo or a magnet link")
	}
	d.ctl.Lock()
	defer d.ctl.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return Added{}, ErrClosed
	}
	if old := d.byHash[e.rec.Hash]; old != nil {
		return Added{ID: old.rec.ID, Name: old.rec.Name, Hash: old.rec.Hash, Duplicate: true}, nil
	}
	if len(d.entries) >= MaxTorrents {
		return Added{}, ErrTooMany
	}
	if e.mi != nil {
		if err := writeFileAtomic(d.torrentPath(e.rec.Hash), req.Metainfo); err != nil {
			return Added{}, err
		}
	}
	e.rec.DownloadDir = req.DownloadDir
	if e.rec.DownloadDir == "" {
		e.rec.DownloadDir = d.settings.DownloadDir
	}
	e.rec.ID = d.nextID
	d.nextID++
	e.rec.Added = time.Now().Unix()
	e.rec.Paused = true
	d.entries[e.rec.ID] = e
	d.byHash[e.rec.Hash] = e
	d.totals.FilesAdded++
	if !req.Paused {
		d.startLocked(e)
	}
	if err := d.saveLocked(); err != nil {
		d.log.Warn("daemon: saving state", "err", err)
	}
	return Added{ID: e.rec.ID, Name: e.rec.Name, Hash: e.rec.Hash}, nil
}

// Start starts the torrents with these ids (those already running are left alone).
func (d *Daemon) Start(ids []int) {
	d.each(ids, func(e *entry) {
		if e.phase == phaseStopped {
			e.rec.Finished = false
			d.startLocked(e)
		}
	})
}

// Stop stops the torrents with these ids: connections close, resume data is written.
func (d *Daemon) Stop(ids []int) {
	d.each(ids, func(e *entry) {
		d.detachLocked(e)
		e.rec.Paused = true
	})
}

// Verify rechecks the torrents' files from scratch (the resume data is thrown away) and
// leaves each running or stopped as it was.
func (d *Daemon) Verify(ids []int) {
	d.each(ids, func(e *entry) {
		if e.info == nil {
			return // a magnet without metadata has nothing to check
		}
		wasRunning := e.phase != phaseStopped
		d.detachLocked(e)
		d.launchLocked(e, true, wasRunning)
	})
}

// Remove removes the torrents; with deleteData their files go too.
func (d *Daemon) Remove(ids []int, deleteData bool) {
	d.each(ids, func(e *entry) {
		d.detachLocked(e)
		e.removed = true
		now := time.Now()
		d.removed = append(d.removed, removal{e.rec.ID, now})
		for len(d.removed) > 0 && (len(d.removed) > maxRemovals || now.Sub(d.removed[0].at) > removalWindow) {
			d.removed = d.removed[1:]
		}
		delete(d.entries, e.rec.ID)
		delete(d.byHash, e.rec.Hash)
		var data string
		if deleteData && e.info != nil {
			data = filepath.Join(e.rec.DownloadDir, e.info.Name)
		}
		hash := e.rec.Hash
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			e.ops.Lock()
			defer e.ops.Unlock()
			d.drainClose(e)
			for _, p := range []string{d.torrentPath(hash), d.resumePath(hash), filepath.Join(d.cfg.Dir, "resume", hash+".info")} {
				os.Remove(p)
			}
			if data != "" {
				if err := os.RemoveAll(data); err != nil {
					d.log.Warn("daemon: deleting data", "path", data, "err", err)
				}
			}
		}()
	})
}

// each runs f on the entries with these ids under d.mu, then saves the state.
func (d *Daemon) each(ids []int, f func(*entry)) {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for _, id := range ids {
		if e := d.entries[id]; e != nil {
			f(e)
		}
	}
	if err := d.saveLocked(); err != nil {
		d.log.Warn("daemon: saving state", "err", err)
	}
}

// detachLocked stops whatever the entry is doing: an in-flight start is cancelled (or, if
// it cannot be, closes what it made once it sees the generation moved on), and a running
// torrent is queued for closing. Its counters so far are added to the record at once.
func (d *Daemon) detachLocked(e *entry) {
	e.gen++
	if e.cancel != nil {
		e.cancel()
		e.cancel = nil
	}
	if e.t != nil {
		d.foldLocked(e, e.t.Stats())
		e.toClose = append(e.toClose, e.t)
		e.t = nil
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			e.ops.Lock()
			defer e.ops.Unlock()
			d.drainClose(e)
		}()
	}
	e.phase = phaseStopped
	e.rateUp, e.rateDown, e.peers = 0, 0, peer.PeerSummary{}
}

// foldLocked adds the running torrent's counters since the last fold to the record.
func (d *Daemon) foldLocked(e *entry, st peer.Stats) {
	e.rec.Uploaded += st.Uploaded - e.base.Uploaded
	e.rec.Downloaded += st.Downloaded - e.base.Downloaded
	e.rec.Corrupt += st.Wasted - e.base.Wasted
	d.sessionUp += st.Uploaded - e.base.Uploaded
	d.sessionDown += st.Downloaded - e.base.Downloaded
	d.totals.Uploaded += st.Uploaded - e.base.Uploaded
	d.totals.Downloaded += st.Downloaded - e.base.Downloaded
	e.rec.SecondsSeeding += int64(e.seedingAcc.Seconds())
	e.seedingAcc = 0
	e.base = st
	e.last = st
	if st.Pieces > 0 {
		e.rec.Have = st.BytesDone
	}
	d.dirty = true
}

// drainClose closes torrents detached from the entry; the caller holds e.ops. The counters
// they gained between detaching and closing are folded in.
func (d *Daemon) drainClose(e *entry) {
	d.mu.Lock()
	ts := e.toClose
	e.toClose = nil
	d.mu.Unlock()
	for _, t := range ts {
		if err := t.Close(); err != nil {
			d.log.Warn("daemon: closing torrent", "hash", e.rec.Hash, "err", err)
		}
		st := t.Stats()
		have := t.HavePieces()
		d.mu.Lock()
		e.haveSnap = have
		if e.t == nil {
			d.foldLocked(e, st)
			e.base = peer.Stats{}
		}
		d.mu.Unlock()
	}
}

// startLocked starts a stopped entry.
func (d *Daemon) startLocked(e *entry) {
	e.rec.Paused = false
	e.rec.Error = ""
	d.launchLocked(e, false, true)
}

// launchLocked adds the entry's torrent to the session in the background. With recheck the
// resume data is thrown away first; without run the torrent is closed again once checked.
func (d *Daemon) launchLocked(e *entry, recheck, run bool) {
	e.gen++
	gen := e.gen
	ctx, cancel := context.WithCancel(d.ctx)
	e.cancel = cancel
	e.phase = phaseCheckWait
	if e.info == nil {
		e.phase = phaseFetching
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		e.ops.Lock()
		defer e.ops.Unlock()
		d.drainClose(e)
		if recheck {
			os.Remove(d.resumePath(e.rec.Hash))
		}
		d.runStart(ctx, e, gen, run)
	}()
}

// current reports whether gen is still the entry's wish; the caller holds d.mu.
func (e *entry) current(gen int) bool { return e.gen == gen && !e.removed }

func (d *Daemon) runStart(ctx context.Context, e *entry, gen int, run bool) {
	d.mu.Lock()
	if !e.current(gen) {
		d.mu.Unlock()
		return
	}
	info, mag := e.info, e.mag
	opts := peer.TorrentOptions{
		DataDir:     e.rec.DownloadDir,
		ResumeFile:  d.resumePath(e.rec.Hash),
		Trackers:    e.trackers,
		Speed:       torrentSpeed(e.rec.Speed),
		PieceLayers: e.layers,

		DownloadRateLimit: e.rec.Limits.DownloadRate(),
	}
	// A hybrid torrent's link with only a btmh names it by the v2 hash, its info by the v1
	// one: such a torrent goes by its link always, so that its name never changes.
	byMagnet := info == nil || mag != nil && hashHex(info.Hash()) != e.rec.Hash
	if byMagnet {
		opts.Trackers = nil // AddMagnet adds the link's own
	}
	d.mu.Unlock()
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		d.failStart(e, gen, err)
		return
	}
	if info != nil {
		// Checking files is the slow part; bound how many do it at once.
		select {
		case d.check <- struct{}{}:
			defer func() { <-d.check }()
		case <-ctx.Done():
			return
		}
	}
	d.mu.Lock()
	if !e.current(gen) {
		d.mu.Unlock()
		return
	}
	if info != nil {
		e.phase = phaseChecking
	}
	d.mu.Unlock()

	d.sessMu.RLock()
	var t *peer.Torrent
	var err error
	if byMagnet {
		t, err = d.sess.AddMagnet(ctx, mag, opts)
	} else {
		t, err = d.sess.AddTorrent(info, opts)
	}
	d.sessMu.RUnlock()
	if err != nil {
		if ctx.Err() == nil {
			d.failStart(e, gen, err)
		}
		return
	}
	st := t.Stats()
	d.mu.Lock()
	e.last = st
	e.rec.Have = st.BytesDone
	resolved := e.info == nil
	if resolved {
		e.info, e.layers = t.Info(), t.PieceLayers()
		e.rec.Name = e.info.Name
		d.dirty = true
	}
	hash := e.rec.Hash
	if resolved && !e.removed {
		d.mu.Unlock()
		d.resolved(hash, t.Info(), t.PieceLayers()) // e.ops is held: a removal deletes it after
		d.mu.Lock()
	}
	if !e.current(gen) || !run {
		if e.current(gen) {
			e.phase = phaseStopped
			e.cancel = nil
		}
		e.base = peer.Stats{}
		e.toClose = append(e.toClose, t)
		d.mu.Unlock()
		d.drainClose(e)
		return
	}
	now := time.Now()
	t.SetDownloadRateLimit(e.rec.Limits.DownloadRate()) // it may have changed while checking
	e.t, e.phase, e.cancel = t, phaseRunning, nil
	e.base = peer.Stats{}
	e.startedAt, e.sampleAt = now, now
	d.dirty = true
	d.mu.Unlock()
}

func (d *Daemon) failStart(e *entry, gen int, err error) {
	d.log.Warn("daemon: starting torrent", "hash", e.rec.Hash, "err", err)
	d.mu.Lock()
	defer d.mu.Unlock()
	if e.current(gen) {
		e.phase = phaseStopped
		e.cancel = nil
		e.rec.Error = err.Error()
		d.dirty = true
	}
}

// torrentSpeed turns the record's Speed setting into the session's per-torrent override.
func torrentSpeed(ts TorrentSpeed) bidext.TorrentSettings {
	out := bidext.TorrentSettings{Off: ts.Off}
	if ts.SpendingRate != nil {
		r := uint32(min(max(*ts.SpendingRate, 0), 1)*bidext.PPM + 0.5)
		out.SpendingRate = &r
	}
	return out
}

// saveLocked writes state.json; the caller holds d.mu.
func (d *Daemon) saveLocked() error {
	st := stateFile{Settings: d.settings, NextID: d.nextID, Totals: d.totals}
	for _, id := range d.sortedIDs() {
		e := d.entries[id]
		rec := e.rec
		if e.t != nil { // counters of the running torrent not yet folded
			cur := e.t.Stats()
			rec.Uploaded += cur.Uploaded - e.base.Uploaded
			rec.Downloaded += cur.Downloaded - e.base.Downloaded
			rec.Corrupt += cur.Wasted - e.base.Wasted
			rec.SecondsSeeding += int64(e.seedingAcc.Seconds())
		}
		st.Torrents = append(st.Torrents, rec)
	}
	st.Totals.SecondsActive += int64(time.Since(d.startedAt).Seconds())
	b, err := json.Marshal(st) // not indented: it is rewritten on every change, 1,000 torrents at a time
	if err != nil {
		return err
	}
	d.dirty = false
	d.lastSave = time.Now()
	return writeFileAtomic(d.statePath(), b)
}

// Settings returns the current settings.
func (d *Daemon) Settings() Settings {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.settings
}

// SetSettings changes the settings with f and applies them: the upload and download limits
// at once; peer limits and Speed settings by reopening the peer session (every running
// torrent stops and starts again from its resume data, as after a restart).
func (d *Daemon) SetSettings(f func(*Settings)) error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	old := d.settings
	next := old
	f(&next)
	if next.DownloadDir == "" {
		next.DownloadDir = old.DownloadDir
	}
	d.settings = next
	err := d.saveLocked()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	up, down := next.RateLimits()
	d.sessMu.RLock()
	d.sess.SetUploadRateLimit(up)
	d.sess.SetDownloadRateLimit(down)
	d.sessMu.RUnlock()
	if next.PeerLimitGlobal != old.PeerLimitGlobal || next.PeerLimitPerTorrent != old.PeerLimitPerTorrent || next.Speed != old.Speed {
		return d.reopen()
	}
	return nil
}

// reopen closes the session and opens a new one with the current settings, restarting the
// torrents that ran. The caller holds d.ctl.
func (d *Daemon) reopen() error {
	d.mu.Lock()
	var running []*entry
	for _, id := range d.sortedIDs() {
		e := d.entries[id]
		if e.phase != phaseStopped {
			running = append(running, e)
			d.detachLocked(e)
		}
	}
	d.mu.Unlock()
	for _, e := range d.allEntries() {
		e.ops.Lock()
		d.drainClose(e)
		e.ops.Unlock()
	}
	d.sessMu.Lock()
	d.sessCancel()
	d.sess.Close()
	err := d.openSession()
	d.sessMu.Unlock()
	if err != nil {
		return fmt.Errorf("daemon: reopening the session: %w", err)
	}
	d.mu.Lock()
	for _, e := range running {
		if !e.removed {
			d.startLocked(e)
		}
	}
	d.mu.Unlock()
	return nil
}

// tickLoop brings rates, peers and seeding time up to date every second, enforces the
// seeding limits and saves the counters now and then.
func (d *Daemon) tickLoop() {
	defer d.wg.Done()
	tk := time.NewTicker(tickInterval)
	defer tk.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case now := <-tk.C:
			d.tick(now)
		}
	}
}

func (d *Daemon) tick(now time.Time) {
	type running struct {
		e *entry
		t *peer.Torrent
	}
	d.mu.Lock()
	var rs []running
	for _, e := range d.entries {
		if e.t != nil {
			rs = append(rs, running{e, e.t})
		}
	}
	speedOn := d.settings.Speed.Enabled
	d.mu.Unlock()
	// Ask each loop for its peers (and Speed state) outside d.mu: a busy loop must not stall
	// the RPC.
	peers := make([]peer.PeerSummary, len(rs))
	speeds := make([]peer.SpeedStatus, len(rs))
	ctx, cancel := context.WithTimeout(d.ctx, tickInterval/2)
	for i, r := range rs {
		peers[i], _ = r.t.Peers(ctx)
		if speedOn {
			speeds[i] = r.t.Speed()
		}
	}
	cancel()

	d.ctl.Lock() // seeding limits stop torrents: no reopen in between
	defer d.ctl.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for i, r := range rs {
		e := r.e
		if e.t != r.t {
			continue
		}
		st := e.t.Stats()
		dt := now.Sub(e.sampleAt).Seconds()
		if dt > 0 {
			// An exponential average over about two seconds: steady enough to read, quick
			// enough that a stalled download shows as stalled.
			const alpha = 0.5
			e.rateUp = alpha*float64(st.Uploaded-e.last.Uploaded)/dt + (1-alpha)*e.rateUp
			e.rateDown = alpha*float64(st.Downloaded-e.last.Downloaded)/dt + (1-alpha)*e.rateDown
		}
		if st.Uploaded != e.last.Uploaded || st.Downloaded != e.last.Downloaded {
			e.rec.Activity = now.Unix()
		}
		if st.Complete {
			// Done is when a download completed, as Transmission's doneDate: a torrent added
			// with its data all there never gets one.
			if !e.last.Complete {
				e.rec.Done = now.Unix()
				d.dirty = true
			}
			if e.last.Complete {
				e.seedingAcc += now.Sub(e.sampleAt)
			}
		}
		e.last, e.sampleAt, e.peers, e.speed = st, now, peers[i], speeds[i]
		if reason := d.settings.Seed.Resolve(e.rec.Limits).Reached(d.progressLocked(e, now)); reason != "" {
			d.log.Info("daemon: seeding limit reached; stopping", "hash", e.rec.Hash, "limit", reason)
			d.detachLocked(e)
			e.rec.Paused = true
			e.rec.Finished = true
			d.dirty = true
		}
	}
	if d.dirty && now.Sub(d.lastSave) >= saveInterval || d.dirty && len(rs) == 0 {
		if err := d.saveLocked(); err != nil {
			d.log.Warn("daemon: saving state", "err", err)
		}
	}
}

// progressLocked is the entry's standing against the seeding limits.
func (d *Daemon) progressLocked(e *entry, now time.Time) SeedProgress {
	v := d.viewLocked(e, now)
	idleSince := max(e.rec.Activity, e.startedAt.Unix())
	return SeedProgress{
		Complete:   v.Complete,
		Size:       v.SizeWhenDone,
		Uploaded:   v.UploadedEver,
		Downloaded: v.DownloadedEver,
		Seeding:    time.Duration(v.SecondsSeeding) * time.Second,
		Idle:       now.Sub(time.Unix(idleSince, 0)),
	}
}

// RecentlyRemoved lists the ids of torrents removed in the last minute (at most 1,024).
func (d *Daemon) RecentlyRemoved() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []int{}
	for _, r := range d.removed {
		if time.Since(r.at) <= removalWindow {
			out = append(out, r.id)
		}
	}
	return out
}

// SetTorrents changes the limits and Speed setting of the torrents with these ids. A
// running torrent whose Speed setting changed is restarted (from its resume data) so the
// new setting takes hold; its download limit applies at once, seeding limits at the next
// tick.
func (d *Daemon) SetTorrents(ids []int, f func(*TorrentLimits, *TorrentSpeed)) error {
	d.each(ids, func(e *entry) {
		old := e.rec.Speed
		f(&e.rec.Limits, &e.rec.Speed)
		changed := old.Off != e.rec.Speed.Off || (old.SpendingRate == nil) != (e.rec.Speed.SpendingRate == nil) ||
			old.SpendingRate != nil && *old.SpendingRate != *e.rec.Speed.SpendingRate
		if changed && e.phase != phaseStopped {
			d.detachLocked(e)
			d.startLocked(e)
		}
		if e.t != nil {
			e.t.SetDownloadRateLimit(e.rec.Limits.DownloadRate())
		}
	})
	return nil
}
