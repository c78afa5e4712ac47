package peer

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/speedbt/btt/dht"
	"github.com/speedbt/btt/peer/tracker"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/magnet"
	"github.com/speedbt/btt/wire/metainfo"
	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// Errors of the metadata fetch; test with errors.Is.
var (
	// ErrMetadataMismatch means a peer sent an info dictionary whose SHA-1 is not the
	// magnet's info-hash: it lied or is broken, and is not asked again.
	ErrMetadataMismatch = errors.New("peer: metadata does not match the info-hash")
	// ErrNoMetadata means a peer cannot give us the metadata (no ut_metadata, rejects).
	ErrNoMetadata = errors.New("peer: peer has no metadata to give")
)

// Limits of the metadata fetch.
const (
	// metadataFetchTimeout bounds one peer's whole exchange: dial, handshakes and every
	// piece. Even 32 MiB of metadata arrives in far less on any link worth using.
	metadataFetchTimeout = 60 * time.Second
	// metadataParallel is how many peers are asked at once. Each may cost up to its
	// announced metadata_size (at most wire.MaxMetadataSize) of memory.
	metadataParallel = 4
	// metadataStagger is how long one attempt runs alone before the next peer is asked
	// too; a failed attempt starts the next at once.
	metadataStagger = time.Second
	// metadataRetry is the pause before peers that failed for reasons other than lying
	// (not reachable yet, still checking files) are asked again.
	metadataRetry = 2 * time.Second
	// metadataWindow is how many piece requests are outstanding at a peer.
	metadataWindow = 8
	// maxMetadataCandidates bounds the addresses considered (x.pe, options, DHT, trackers).
	maxMetadataCandidates = 200
	// metadataPEXWait is how long a peer without the metadata is given to send its first
	// ut_pex message (libtorrent sends it at its next one-second tick).
	metadataPEXWait = 3 * time.Second
	// maxMetadataTrackers bounds the trackers of a link asked at once.
	maxMetadataTrackers = 8
	// magnetLeft is the "left" we announce before we know the torrent's size: non-zero, so
	// trackers treat us as a leecher and list seeds (libtorrent announces 16 KiB too).
	magnetLeft = 16 << 10
)

// AddMagnet fetches the info dictionary of the torrent a magnet link names from peers
// (BEP 9), checks it against the link's info-hash, and then adds the torrent like
// AddTorrent. Peers come from the link's x.pe, opts.Peers, the trackers of the link (tr)
// and of opts.Trackers, and the session's DHT when it is on. A peer whose metadata does
// not hash to the info-hash is dropped and not dialled again for the torrent. ctx bounds
// the metadata phase only; the torrent then runs until closed, announcing to the same
// trackers. The peers that gave metadata are passed on to the torrent with opts.Peers.
// With opts.ResumeFile set, the info dictionary is kept beside it ("<info-hash>.info"),
// and a later AddMagnet of the same link takes it from there without asking peers.
func (s *Session) AddMagnet(ctx context.Context, m *magnet.Magnet, opts TorrentOptions) (*Torrent, error) {
	ih := magnetHash(m)
	if s.lookup(ih) != nil {
		return nil, fmt.Errorf("peer: torrent %x already added", ih)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // closing the session ends the fetch too
	defer stop()

	// The caller's addresses must be good, as for AddTorrent; the link's are a stranger's
	// word, and one that does not resolve is skipped.
	var seeds []netip.AddrPort
	for _, a := range opts.Peers {
		ap, err := resolveAddrPort(a)
		if err != nil {
			return nil, err
		}
		seeds = append(seeds, ap)
	}
	for _, a := range m.Peers {
		ap, err := resolveAddrPort(a)
		if err != nil {
			s.log.Info("magnet: skipping peer address", "addr", a, "err", err)
			continue
		}
		seeds = append(seeds, ap)
	}
	// The link's trackers each form a tier, as libtorrent reads them; the caller's come first.
	for _, u := range m.Trackers {
		opts.Trackers = append(opts.Trackers, []string{u})
	}
	var urls []string
	for _, tier := range opts.Trackers {
		for _, u := range tier {
			if !slices.Contains(urls, u) && len(urls) < maxMetadataTrackers {
				urls = append(urls, u)
			}
		}
	}
	f := &metadataFetch{s: s, ih: ih, check: func(raw []byte) bool { return metadataMatches(m, raw) }, trackers: urls}
	cache := infoCachePath(opts, ih)
	raw, from := loadCachedInfo(cache, f.check), cache
	cached := raw != nil
	if !cached {
		var ap netip.AddrPort
		var err error
		if raw, ap, err = f.run(ctx, seeds); err != nil {
			return nil, err
		}
		from = ap.String()
	}
	info, err := metainfo.ParseInfo(raw)
	if err != nil {
		return nil, fmt.Errorf("peer: metadata of %x from %v: %w", ih, from, err)
	}
	if !cached && cache != "" {
		if err := saveCachedInfo(cache, raw); err != nil {
			s.log.Warn("magnet: keeping the metadata", "err", err)
		}
	}
	opts.Peers = nil
	for _, ap := range append(seeds, f.good...) {
		opts.Peers = append(opts.Peers, ap.String())
	}
	opts.Peers = dedupe(opts.Peers, f.bad)
	if needsPieceLayers(info) && opts.PieceLayers == nil {
		// A v2-only torrent's pieces cannot be checked without its piece layers, which
		// the info dictionary does not hold: ask the peers for them (BEP 52).
		layers, err := s.fetchPieceLayers(ctx, info, ih, append(seeds, f.good...))
		if err != nil {
			return nil, err
		}
		opts.PieceLayers = layers
	}
	return s.AddTorrent(info, opts)
}

// infoCachePath is where a magnet's fetched info dictionary is kept, beside the resume
// file, so that a restarted download needs no peer for it; "" without a resume file.
func infoCachePath(opts TorrentOptions, ih [20]byte) string {
	if opts.ResumeFile == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(opts.ResumeFile), fmt.Sprintf("%x.info", ih))
}

// loadCachedInfo returns the info dictionary kept at path if it passes check (hashes to
// the link's info-hash), else nil.
func loadCachedInfo(path string, check func([]byte) bool) []byte {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, wire.MaxMetadataSize+1))
	if err != nil || len(raw) > wire.MaxMetadataSize || !check(raw) {
		return nil // unreadable, too big or not this torrent's: fetch it again
	}
	return raw
}

// saveCachedInfo writes raw to path whole or not at all.
func saveCachedInfo(path string, raw []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// dedupe drops repeated addresses and those of liars.
func dedupe(addrs []string, bad map[netip.AddrPort]bool) []string {
	seen := map[string]bool{}
	out := addrs[:0]
	for _, a := range addrs {
		if ap, err := netip.ParseAddrPort(a); err == nil && bad[ap] {
			continue
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// metadataFetch asks peers for one torrent's metadata until one gives it.
type metadataFetch struct {
	s        *Session
	ih       [20]byte                // the name on the wire: v1, or truncated v2 (v2.go)
	check    func(raw []byte) bool   // the metadata hashes to the link's info-hashes; nil: SHA-1 is ih
	trackers []string                // announce URLs to ask for peers
	tc       tracker.Client          // keeps UDP connection ids between rounds
	bad      map[netip.AddrPort]bool // sent metadata that did not match: never again
	good     []netip.AddrPort        // answered the handshake with ut_metadata
}

// matches reports whether raw is the torrent's info dictionary.
func (f *metadataFetch) matches(raw []byte) bool {
	if f.check != nil {
		return f.check(raw)
	}
	return sha1.Sum(raw) == f.ih
}

type fetchResult struct {
	addr      netip.AddrPort
	raw       []byte
	err       error
	supported bool             // the peer advertised ut_metadata
	learned   []netip.AddrPort // peers its ut_pex named
}

// run tries candidates, a few at a time, staggered so that a quick failure (or a liar)
// hands over to the next peer at once, until one returns metadata hashing to f.ih or ctx
// ends. Peers that failed honestly are retried after a pause; the DHT and the trackers
// are asked again each round.
func (f *metadataFetch) run(ctx context.Context, seeds []netip.AddrPort) ([]byte, netip.AddrPort, error) {
	f.bad = map[netip.AddrPort]bool{}
	results := make(chan fetchResult)
	attemptCtx, cancelAttempts := context.WithCancel(ctx)
	inFlight := 0
	defer func() {
		cancelAttempts()
		for ; inFlight > 0; inFlight-- {
			<-results
		}
	}()

	var (
		queue   []netip.AddrPort
		queued  = map[netip.AddrPort]bool{}
		lastErr error
		found   chan []netip.AddrPort // answers of the DHT and tracker lookups under way
		lookups int                   // how many of them are still to answer
	)
	enqueue := func(aps []netip.AddrPort) {
		for _, ap := range aps {
			if !ap.IsValid() || ap.Port() == 0 || f.bad[ap] || queued[ap] || len(queued) >= maxMetadataCandidates {
				continue
			}
			queued[ap] = true
			queue = append(queue, ap)
		}
	}
	enqueue(seeds)
	// askSources starts a round of DHT and tracker lookups unless one is under way.
	askSources := func() {
		if lookups > 0 {
			return
		}
		var jobs []func(context.Context) []netip.AddrPort
		if node := f.s.dht; node != nil {
			jobs = append(jobs, func(ctx context.Context) []netip.AddrPort {
				peers, err := node.GetPeers(ctx, dht.ID(f.ih))
				if err != nil {
					f.s.log.Debug("magnet dht get_peers", "err", err)
				}
				return peers
			})
		}
		for _, u := range f.trackers {
			jobs = append(jobs, func(ctx context.Context) []netip.AddrPort { return f.announce(ctx, u) })
		}
		// Buffered for every answer: a lookup that ends after run returned does not block.
		found = make(chan []netip.AddrPort, len(jobs))
		lookups = len(jobs)
		for _, job := range jobs {
			ch := found
			f.s.wg.Add(1)
			go func() {
				defer f.s.wg.Done()
				lctx, cancel := context.WithTimeout(attemptCtx, 30*time.Second)
				defer cancel()
				ch <- job(lctx)
			}()
		}
	}
	askSources()

	stagger := time.NewTimer(0)
	defer stagger.Stop()
	retry := time.NewTimer(metadataRetry)
	defer retry.Stop()
	for {
		select {
		case <-stagger.C:
			// Start one more attempt: the last one has run alone long enough, or ended.
			if len(queue) > 0 && inFlight < metadataParallel {
				ap := queue[0]
				queue = queue[1:]
				inFlight++
				go func() { results <- f.fetchFrom(attemptCtx, ap) }()
			}
			stagger.Reset(metadataStagger)
		case <-ctx.Done():
			return nil, netip.AddrPort{}, errors.Join(fmt.Errorf("peer: metadata of %x: %w", f.ih, ctx.Err()), lastErr)
		case r := <-results:
			inFlight--
			enqueue(r.learned)
			if r.supported {
				f.good = append(f.good, r.addr)
			}
			if r.err == nil {
				return r.raw, r.addr, nil
			}
			f.s.log.Debug("metadata fetch failed", "addr", r.addr, "err", r.err)
			lastErr = fmt.Errorf("%v: %w", r.addr, r.err)
			if errors.Is(r.err, ErrMetadataMismatch) {
				f.bad[r.addr] = true
				f.s.log.Warn("peer sent wrong metadata", "addr", r.addr, "infohash", fmt.Sprintf("%x", f.ih))
			} else {
				delete(queued, r.addr) // may be asked again next round
			}
			stagger.Reset(0)
		case peers := <-found:
			lookups--
			enqueue(peers)
			stagger.Reset(0)
		case <-retry.C:
			retry.Reset(metadataRetry)
			if len(queue) == 0 && inFlight == 0 {
				enqueue(seeds)
				for _, ap := range f.good {
					enqueue([]netip.AddrPort{ap})
				}
				askSources()
				stagger.Reset(0)
			}
		}
	}
}

// announce asks the tracker at url for peers of f.ih.
func (f *metadataFetch) announce(ctx context.Context, url string) []netip.AddrPort {
	resp, err := f.tc.Announce(ctx, url, wiretracker.AnnounceRequest{
		InfoHash: f.ih,
		PeerID:   f.s.peerID,
		Port:     uint16(f.s.listenPort()),
		Left:     magnetLeft,
		Event:    wiretracker.EventStarted,
		NumWant:  50,
	})
	if err != nil {
		f.s.log.Info("magnet tracker announce failed", "url", url, "err", err)
		return nil
	}
	peers := make([]netip.AddrPort, 0, len(resp.Peers))
	for _, p := range resp.Peers {
		peers = append(peers, p.Addr)
	}
	return peers
}

// fetchFrom dials ap and asks it for the whole info dictionary.
func (f *metadataFetch) fetchFrom(ctx context.Context, ap netip.AddrPort) fetchResult {
	ctx, cancel := context.WithTimeout(ctx, metadataFetchTimeout)
	defer cancel()
	res := fetchResult{addr: ap}
	nc, err := f.dial(ctx, ap)
	if err != nil {
		res.err = err
		return res
	}
	defer nc.Close()
	// ctx alone bounds the exchange: when it ends, the pending read or write fails at once,
	// and ctx.Err() is already set to say why.
	nc.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	res.raw, res.supported, res.err = f.exchange(nc, func(aps []netip.AddrPort) {
		res.learned = append(res.learned, aps...)
	})
	if res.err != nil && ctx.Err() != nil {
		res.err = errors.Join(ctx.Err(), res.err)
	}
	return res
}

// dial connects to ap and completes the BitTorrent handshake for f.ih (Session.dial), and
// refuses a peer that cannot speak BEP 10, hence not ut_metadata.
func (f *metadataFetch) dial(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
	nc, h, err := f.s.dial(ctx, f.ih, ap)
	if err != nil {
		return nil, err
	}
	if !h.Reserved.SupportsExtended() {
		nc.Close()
		return nil, fmt.Errorf("%w: %v does not speak BEP 10", ErrNoMetadata, ap)
	}
	return nc, nil
}

// exchange runs the BEP 10 handshake and the ut_metadata requests on a handshaken
// connection. It reports whether the peer advertised ut_metadata with a size.
//
// A peer without the metadata may still know peers that have it: if it speaks ut_pex, we
// wait up to metadataPEXWait for its first PEX message and hand its peers to learn.
func (f *metadataFetch) exchange(nc net.Conn, learn func([]netip.AddrPort)) (raw []byte, supported bool, err error) {
	s := f.s
	// BEP 6: with the fast bit set, say first that we have nothing.
	out := wire.AppendMessage(nil, wire.Message{Type: wire.HaveNone})
	eh := wire.ExtendedHandshake{
		// ut_pex before we know whether the torrent is private, as libtorrent does for
		// magnet links: the private flag is in the metadata we do not have yet.
		M:    map[string]int{wire.ExtMetadata: extIDMetadata, wire.ExtPEX: extIDPEX},
		V:    s.settings.ClientVersion,
		P:    s.listenPort(),
		Reqq: s.settings.MaxPeerRequests,
	}
	out = wire.AppendMessage(out, wire.Message{Type: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: wire.AppendExtendedHandshake(nil, eh)})
	if _, err := nc.Write(out); err != nil {
		return nil, false, err
	}

	r := wire.NewReaderSize(nc, s.settings.MaxMessageLen, 32<<10)
	var (
		peerID uint8 // the peer's ut_metadata id, 0 until its handshake names one
		size   int
		// pieces are kept apart until the last arrives, so that memory follows the bytes
		// the peer really sent, not the size it announced.
		pieces   [][]byte
		missing  int
		next     int // next piece to request
		inflight int
		noMeta   error // set when the peer has no metadata but may still send PEX
	)
	request := func() error {
		var msgs []byte
		for inflight < metadataWindow && next < len(pieces) {
			p := wire.AppendMetadataMessage(nil, wire.MetadataMessage{Type: wire.MetadataRequest, Piece: next})
			msgs = wire.AppendMessage(msgs, wire.Message{Type: wire.Extended, ExtID: peerID, Payload: p})
			next++
			inflight++
		}
		if len(msgs) == 0 {
			return nil
		}
		_, err := nc.Write(msgs)
		return err
	}
	for {
		m, err := r.ReadHeader()
		if err != nil {
			if noMeta != nil {
				return nil, false, noMeta
			}
			return nil, supported, err
		}
		if m.Type != wire.Extended {
			continue // bitfields, haves, keep-alives, blocks: nothing we need here
		}
		switch m.ExtID {
		case wire.ExtHandshakeID:
			h, err := wire.ParseExtendedHandshake(m.Payload)
			if err != nil {
				return nil, supported, err
			}
			if peerID != 0 {
				continue // a later handshake; the first one set up the exchange
			}
			id := h.M[wire.ExtMetadata]
			if id == 0 || h.MetadataSize == 0 {
				err := fmt.Errorf("%w: no ut_metadata or metadata_size in its handshake", ErrNoMetadata)
				if h.M[wire.ExtPEX] == 0 || noMeta != nil {
					return nil, false, err
				}
				noMeta = err
				nc.SetReadDeadline(time.Now().Add(metadataPEXWait))
				continue
			}
			// ParseExtendedHandshake keeps MetadataSize within 1..wire.MaxMetadataSize.
			peerID, size, supported = uint8(id), h.MetadataSize, true
			pieces = make([][]byte, wire.MetadataPieces(size)) // at most 2048
			missing = len(pieces)
			if err := request(); err != nil {
				return nil, supported, err
			}
		case extIDPEX:
			msg, err := wire.ParsePEX(m.Payload)
			if err != nil {
				return nil, supported, err
			}
			var aps []netip.AddrPort
			for _, p := range append(msg.Added, msg.Added6...) {
				if a := netip.AddrPortFrom(p.Addr.Addr().Unmap(), p.Addr.Port()); dialable(a) {
					aps = append(aps, a)
				}
			}
			learn(aps)
			if noMeta != nil {
				return nil, false, noMeta
			}
		case extIDMetadata:
			if peerID == 0 {
				return nil, supported, protocolErr("ut_metadata before the extended handshake")
			}
			mm, err := wire.ParseMetadataMessage(m.Payload)
			if err != nil {
				return nil, supported, err
			}
			switch mm.Type {
			case wire.MetadataReject:
				return nil, supported, fmt.Errorf("%w: piece %d rejected", ErrNoMetadata, mm.Piece)
			case wire.MetadataRequest:
				// We have nothing to give yet: say so, as BEP 9 asks.
				rej := wire.AppendMetadataMessage(nil, wire.MetadataMessage{Type: wire.MetadataReject, Piece: mm.Piece})
				if _, err := nc.Write(wire.AppendMessage(nil, wire.Message{Type: wire.Extended, ExtID: peerID, Payload: rej})); err != nil {
					return nil, supported, err
				}
			case wire.MetadataData:
				if mm.TotalSize != size {
					return nil, supported, protocolErr("ut_metadata total_size %d, handshake said %d", mm.TotalSize, size)
				}
				if mm.Piece >= next || pieces[mm.Piece] != nil {
					return nil, supported, protocolErr("ut_metadata piece %d not requested", mm.Piece)
				}
				// ParseMetadataMessage checked the piece's length against total_size.
				pieces[mm.Piece] = bytes.Clone(mm.Data) // mm.Data aliases the reader's buffer
				missing--
				inflight--
				if missing == 0 {
					raw := bytes.Join(pieces, nil)
					if !f.matches(raw) {
						return nil, supported, fmt.Errorf("%w: SHA-1 %x", ErrMetadataMismatch, sha1.Sum(raw))
					}
					return raw, supported, nil
				}
				if err := request(); err != nil {
					return nil, supported, err
				}
			}
		}
	}
}

// Info returns the torrent's info dictionary: for a torrent added from a magnet link, the
// one fetched from peers.
func (T *Torrent) Info() *metainfo.Info { return T.t.info }

// PieceLayers returns a copy of the piece layers the torrent checks its pieces with: those
// given in TorrentOptions, or for a v2 magnet link those fetched from peers. A caller that
// keeps them can add the torrent again without asking peers.
func (T *Torrent) PieceLayers() map[[32]byte][]byte { return maps.Clone(T.t.opts.PieceLayers) }
