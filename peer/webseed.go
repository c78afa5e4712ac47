package peer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/metainfo"
)

// BEP 19 web seeds (GetRight style): a URL serving the torrent's files over HTTP. A web
// seed joins the torrent as one more peer: it is bridged to the torrent over an in-memory
// connection that speaks the peer wire protocol (it says have_all, unchokes, and answers each
// request from HTTP range requests), so the picker, the hash checks and the ban on bad data
// apply to it exactly as to any peer. A web seed whose data fails the hash check is banned
// (by its address) and dropped; one whose requests fail webSeedMaxFailures times in a row is
// dropped. Neither is retried for the torrent.

// webSeedMaxFailures is how many failed HTTP fetches in a row drop a web seed: a server
// restarting gets a second chance, a dead or wrong URL stops costing requests.
const webSeedMaxFailures = 3

// webSeedTimeout bounds one HTTP request (one piece's ranges in one file).
const webSeedTimeout = 30 * time.Second

// webSeedQueue bounds the requests queued at a web seed bridge. Our torrent keeps far fewer
// outstanding at one peer (the request pipeline depth), so a full queue means a bug; the
// request is then rejected rather than buffered.
const webSeedQueue = 512

// errWebSeedDropped ends a bridge after too many failures.
var errWebSeedDropped = errors.New("peer: web seed dropped after repeated failures")

// webSeed serves one URL of one torrent. Its goroutines own it; the torrent sees only the
// connection.
type webSeed struct {
	url    string
	info   *metainfo.Info
	client *http.Client
	log    func(msg string, args ...any)

	cacheIndex int    // piece held in cache, -1 for none
	cache      []byte // that piece's bytes: at most one piece per web seed
}

// webSeedConn is our end of the bridge: a pipe whose remote address is the web server's,
// so bans and logs name the server.
type webSeedConn struct {
	net.Conn
	remote net.Addr
}

func (c *webSeedConn) RemoteAddr() net.Addr { return c.remote }

// webSeedURL checks a url-list entry and resolves the address its bridge is known by.
func webSeedAddr(raw string) (*net.TCPAddr, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("peer: web seed %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("peer: web seed %q: scheme %q is not http or https", raw, u.Scheme)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.ResolveTCPAddr("tcp", net.JoinHostPort(u.Hostname(), port))
}

// startWebSeeds bridges each usable URL into the torrent. A URL that does not parse or
// resolve is logged and skipped.
func (t *torrent) startWebSeeds(info *metainfo.Info, urls []string) {
	for _, raw := range urls {
		addr, err := webSeedAddr(raw)
		if err != nil {
			t.s.log.Info("web seed skipped", "url", raw, "err", err)
			continue
		}
		ours, theirs := net.Pipe()
		ws := &webSeed{url: raw, info: info, cacheIndex: -1,
			client: &http.Client{Timeout: webSeedTimeout}, log: t.s.log.Info}
		h := wire.Handshake{InfoHash: t.infoHash}
		copy(h.PeerID[:], "-WS0000-")
		rand.Read(h.PeerID[8:])
		h.Reserved.SetFast(true)
		t.s.wg.Add(1)
		go func() {
			defer t.s.wg.Done()
			err := ws.serve(t.s.ctx, theirs)
			t.s.log.Info("web seed gone", "url", raw, "err", err)
		}()
		t.adopt(&webSeedConn{Conn: ours, remote: addr}, h, true)
	}
}

// serve speaks the peer wire protocol on c for the web seed until the torrent drops it.
func (ws *webSeed) serve(ctx context.Context, c net.Conn) error {
	defer c.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); c.Close() }()

	reqs := make(chan wire.Message, webSeedQueue)
	out := make(chan []byte, 16)
	werr := make(chan error, 1)
	go func() { // writer: the only goroutine writing to c
		for b := range out {
			if _, err := c.Write(b); err != nil {
				werr <- err
				cancel()
				for range out {
				}
				return
			}
		}
		werr <- nil
	}()
	ferr := make(chan error, 1)
	go func() { // fetcher: one HTTP request at a time, in request order
		defer close(out)
		out <- wire.AppendMessage(nil, wire.Message{Type: wire.HaveAll})
		out <- wire.AppendMessage(nil, wire.Message{Type: wire.Unchoke})
		failures := 0
		for {
			var m wire.Message
			select {
			case <-ctx.Done():
				ferr <- ctx.Err()
				return
			case m = <-reqs:
			}
			data, err := ws.block(ctx, m)
			if err != nil {
				failures++
				ws.log("web seed fetch failed", "url", ws.url, "piece", m.Index, "err", err, "failures", failures)
				out <- wire.AppendMessage(nil, wire.Message{Type: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
				if failures >= webSeedMaxFailures {
					ferr <- errWebSeedDropped
					cancel()
					return
				}
				continue
			}
			failures = 0
			msg := wire.AppendPieceHeader(make([]byte, 0, wire.PieceHeaderLen+len(data)), m.Index, m.Begin, len(data))
			out <- append(msg, data...)
		}
	}()

	r := wire.NewReader(c, wire.DefaultMaxMessageLen)
	var rerr error
	for {
		m, err := r.ReadHeader()
		if err != nil {
			rerr = err
			break
		}
		if m.Type != wire.Request {
			continue // have, interested, cancel, extension messages: nothing to do for HTTP
		}
		select {
		case reqs <- m:
		default:
			out <- wire.AppendMessage(nil, wire.Message{Type: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
		}
	}
	cancel()
	select {
	case err := <-ferr:
		return err
	default:
	}
	return rerr
}

// block returns the bytes of one requested block, fetching its piece when it is not the
// cached one (our torrent asks for a piece's blocks together, so one HTTP round per piece).
func (ws *webSeed) block(ctx context.Context, m wire.Message) ([]byte, error) {
	info := ws.info
	n := info.NumPieces()
	if int(m.Index) >= n {
		return nil, fmt.Errorf("piece %d of %d", m.Index, n)
	}
	if ws.cacheIndex != int(m.Index) {
		b, err := ws.fetchPiece(ctx, int(m.Index))
		if err != nil {
			return nil, err
		}
		ws.cacheIndex, ws.cache = int(m.Index), b
	}
	end := int64(m.Begin) + int64(m.Length)
	if m.Length == 0 || end > int64(len(ws.cache)) {
		return nil, fmt.Errorf("block %d+%d outside piece %d", m.Begin, m.Length, m.Index)
	}
	return ws.cache[m.Begin:end], nil
}

// fetchPiece reads piece i: one range request per file the piece overlaps (a piece may span
// file boundaries); pad files (BEP 47) are zeros and are not fetched.
func (ws *webSeed) fetchPiece(ctx context.Context, i int) ([]byte, error) {
	info := ws.info
	start := int64(i) * info.PieceLength
	end := min(start+info.PieceLength, info.TotalLength)
	buf := make([]byte, end-start)
	for _, f := range info.Files {
		lo, hi := max(start, f.Offset), min(end, f.Offset+f.Length)
		if lo >= hi || f.Pad {
			continue
		}
		if err := ws.fetchRange(ctx, ws.fileURL(f), lo-f.Offset, buf[lo-start:hi-start]); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// fileURL is where a file lives under the web seed (BEP 19): a multi-file torrent's files
// under URL/name/path..., a single file at the URL itself, or at URL/name when the URL ends
// in a slash.
func (ws *webSeed) fileURL(f metainfo.File) string {
	u := ws.url
	if !ws.info.IsMultiFile() && !strings.HasSuffix(u, "/") {
		return u
	}
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	parts := make([]string, len(f.Path))
	for k, p := range f.Path {
		parts[k] = url.PathEscape(p)
	}
	return u + strings.Join(parts, "/")
}

// fetchRange fills dst from the file at u starting at off, with one Range request. The
// server must answer 206 with exactly that range (a 200 would be the whole file: refused, so
// a server without range support costs one request, not a download of everything).
func (ws *webSeed) fetchRange(ctx context.Context, u string, off int64, dst []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+int64(len(dst))-1, 10))
	resp, err := ws.client.Do(req) // follows redirects (up to 10)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("GET %s: %s (want 206 Partial Content)", u, resp.Status)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != int64(len(dst)) {
		return fmt.Errorf("GET %s: %d bytes for a %d-byte range", u, resp.ContentLength, len(dst))
	}
	if _, err := io.ReadFull(resp.Body, dst); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}
