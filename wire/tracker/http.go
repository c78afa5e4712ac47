package tracker

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/speedbt/btt/wire/bencode"
)

// HTTPOptions are the request parameters that shape an HTTP reply.
type HTTPOptions struct {
	Compact  bool // compact=1 (BEP 23)
	NoPeerID bool // no_peer_id=1
}

// AppendHTTPQuery appends the announce parameters of req to dst as a URL query
// (without the leading '?'), the way mainstream clients send them: binary
// fields percent-encoded, compact=1, and Speed's bid, top and min_bid only when
// set, so a request without a bid is an ordinary BEP 3 announce.
func AppendHTTPQuery(dst []byte, req AnnounceRequest) []byte {
	dst = append(dst, "info_hash="...)
	dst = appendEscaped(dst, req.InfoHash[:])
	dst = append(dst, "&peer_id="...)
	dst = appendEscaped(dst, req.PeerID[:])
	dst = append(dst, "&port="...)
	dst = strconv.AppendUint(dst, uint64(req.Port), 10)
	dst = append(dst, "&uploaded="...)
	dst = strconv.AppendInt(dst, max(req.Uploaded, 0), 10)
	dst = append(dst, "&downloaded="...)
	dst = strconv.AppendInt(dst, max(req.Downloaded, 0), 10)
	dst = append(dst, "&left="...)
	dst = strconv.AppendInt(dst, max(req.Left, 0), 10)
	if req.Event != EventNone {
		dst = append(dst, "&event="...)
		dst = append(dst, req.Event.String()...)
	}
	if req.NumWant > 0 {
		dst = append(dst, "&numwant="...)
		dst = strconv.AppendInt(dst, int64(req.NumWant), 10)
	}
	dst = append(dst, "&key="...)
	dst = fmt.Appendf(dst, "%08X", req.Key)
	if req.IP.IsValid() {
		dst = append(dst, "&ip="...)
		dst = append(dst, req.IP.String()...)
	}
	dst = append(dst, "&compact=1"...)
	return appendSpeedQuery(dst, req)
}

// appendSpeedQuery appends "&bid=..&top=..&min_bid=.." for the fields set.
func appendSpeedQuery(dst []byte, req AnnounceRequest) []byte {
	if req.Bid > 0 {
		dst = append(dst, "&bid="...)
		dst = strconv.AppendUint(dst, req.Bid, 10)
	}
	if req.Top > 0 {
		dst = append(dst, "&top="...)
		dst = strconv.AppendInt(dst, int64(req.Top), 10)
		if req.MinBid > 0 {
			dst = append(dst, "&min_bid="...)
			dst = strconv.AppendUint(dst, req.MinBid, 10)
		}
	}
	return dst
}

func appendEscaped(dst, b []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range b {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// AppendHTTPScrapeQuery appends the query of a BEP 48 scrape for hashes to
// dst (without the leading '?'): one percent-encoded info_hash per hash.
func AppendHTTPScrapeQuery(dst []byte, hashes [][20]byte) []byte {
	for i, ih := range hashes {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, "info_hash="...)
		dst = appendEscaped(dst, ih[:])
	}
	return dst
}

// Query holds the parameters of a tracker request, as parsed by ParseQuery.
type Query map[string]string

// ParseQuery parses a raw URL query leniently (like trackers do: a bad escape
// fails, unknown parameters are kept, the first of repeated keys wins), with
// at most maxParams parameters. Info-hashes of a scrape are repeated keys, so
// they are returned apart, in order, at most maxParams of them.
func ParseQuery(raw string, maxParams int) (q Query, infoHashes [][20]byte, err error) {
	q = make(Query)
	n := 0
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		if n++; n > maxParams {
			return nil, nil, fmt.Errorf("%w: more than %d parameters", ErrMalformed, maxParams)
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("%w: bad escape in %q", ErrMalformed, truncate(kv))
		}
		if k == "info_hash" {
			if len(v) != 20 {
				return nil, nil, fmt.Errorf("%w: info_hash of %d bytes", ErrMalformed, len(v))
			}
			var ih [20]byte
			copy(ih[:], v)
			infoHashes = append(infoHashes, ih)
		}
		if _, dup := q[k]; !dup {
			q[k] = v
		}
	}
	return q, infoHashes, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// uintParam parses q[k] as a decimal in [0, limit]; missing gives def.
func (q Query) uintParam(k string, def, limit uint64) (uint64, error) {
	s, ok := q[k]
	if !ok || s == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > limit {
		return 0, fmt.Errorf("%w: parameter %s=%q", ErrMalformed, k, truncate(s))
	}
	return n, nil
}

// ParseHTTPAnnounce parses the query of an HTTP announce (server side). The
// Speed parameters are optional; a request with none of them is a plain BEP 3
// announce.
func ParseHTTPAnnounce(rawQuery string) (AnnounceRequest, HTTPOptions, error) {
	var req AnnounceRequest
	var opt HTTPOptions
	q, ihs, err := ParseQuery(rawQuery, 64)
	if err != nil {
		return req, opt, err
	}
	if len(ihs) != 1 {
		return req, opt, fmt.Errorf("%w: want one info_hash, got %d", ErrMalformed, len(ihs))
	}
	req.InfoHash = ihs[0]
	pid, ok := q["peer_id"]
	if !ok || len(pid) != 20 {
		return req, opt, fmt.Errorf("%w: peer_id must be 20 bytes", ErrMalformed)
	}
	copy(req.PeerID[:], pid)
	if _, ok := q["port"]; !ok {
		return req, opt, fmt.Errorf("%w: no port", ErrMalformed)
	}
	if err := parseSpeedQuery(q, &req); err != nil {
		return req, opt, err
	}
	port, err := q.uintParam("port", 0, 65535)
	if err != nil {
		return req, opt, err
	}
	req.Port = uint16(port)
	const maxCount = 1 << 62
	up, err1 := q.uintParam("uploaded", 0, maxCount)
	down, err2 := q.uintParam("downloaded", 0, maxCount)
	left, err3 := q.uintParam("left", 0, maxCount)
	nw, err4 := q.uintParam("numwant", 0, 1<<20)
	if err := firstErr(err1, err2, err3, err4); err != nil {
		return req, opt, err
	}
	req.Uploaded, req.Downloaded, req.Left, req.NumWant = int64(up), int64(down), int64(left), int(nw)
	if req.Event, err = ParseEvent(q["event"]); err != nil {
		return req, opt, err
	}
	if k := q["key"]; k != "" && len(k) <= 8 {
		if n, err := strconv.ParseUint(k, 16, 32); err == nil {
			req.Key = uint32(n)
		}
	}
	if s := q["ip"]; s != "" {
		// An unparsable ip is ignored, not an error: BEP 3 allows DNS names.
		req.IP, _ = netip.ParseAddr(s)
	}
	opt.Compact = q["compact"] == "1"
	opt.NoPeerID = q["no_peer_id"] == "1"
	return req, opt, nil
}

// parseSpeedQuery reads bid, top and min_bid (docs/bep-speed.md section 10).
func parseSpeedQuery(q Query, req *AnnounceRequest) error {
	const maxPrice = 1<<63 - 1
	bid, err1 := q.uintParam("bid", 0, maxPrice)
	top, err2 := q.uintParam("top", 0, 1<<20)
	minBid, err3 := q.uintParam("min_bid", 0, maxPrice)
	if err := firstErr(err1, err2, err3); err != nil {
		return err
	}
	if top == 0 {
		minBid = 0 // the draft: min_bid is ignored without top
	}
	req.Bid, req.Top, req.MinBid = bid, int(top), minBid
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// httpReply is the bencoded dictionary of an HTTP announce reply. Peers and
// peers6 are kept raw: peers is a compact string or a list of dictionaries.
type httpReply struct {
	Failure     string             `bencode:"failure reason,omitempty"`
	Warning     string             `bencode:"warning message,omitempty"`
	Interval    int64              `bencode:"interval"`
	MinInterval int64              `bencode:"min interval,omitempty"`
	Complete    int64              `bencode:"complete"`
	Incomplete  int64              `bencode:"incomplete"`
	Peers       bencode.RawMessage `bencode:"peers,omitempty"`
	Peers6      bencode.RawMessage `bencode:"peers6,omitempty"`
	Bids        []uint64           `bencode:"bids,omitempty"`
	Bids6       []uint64           `bencode:"bids6,omitempty"`
}

type dictPeer struct {
	IP     string `bencode:"ip"`
	PeerID []byte `bencode:"peer id,omitempty"`
	Port   int64  `bencode:"port"`
	Bid    uint64 `bencode:"bid,omitempty"`
}

// EncodeHTTPAnnounce encodes an announce reply (server side). With
// opt.Compact, IPv4 peers go in "peers" (6 bytes each) and IPv6 peers in
// "peers6" (18 bytes each); when resp.HasBids their bids go in the parallel
// lists "bids" and "bids6". Otherwise every peer is a dictionary with ip, port,
// peer id (unless opt.NoPeerID) and bid when resp.HasBids.
func EncodeHTTPAnnounce(resp AnnounceResponse, opt HTTPOptions) ([]byte, error) {
	// Written by hand (keys in sorted order, as bencode requires): trackers
	// encode one of these per announce, and reflection tripled the cost.
	var p4, p6 []byte
	var b4, b6 []uint64
	if opt.Compact {
		p4 = make([]byte, 0, 6*len(resp.Peers))
		for _, p := range resp.Peers {
			if p.Addr.Addr().Unmap().Is4() {
				p4 = appendCompact(p4, p.Addr, 4)
				b4 = append(b4, p.Bid)
			} else {
				p6 = appendCompact(p6, p.Addr, 16)
				b6 = append(b6, p.Bid)
			}
		}
	}
	dst := make([]byte, 0, 128+len(p4)+len(p6)+len(resp.Peers)*(16+60*boolInt(!opt.Compact)))
	dst = append(dst, 'd')
	if opt.Compact && resp.HasBids {
		dst = appendIntList(bencode.AppendString(dst, "bids"), b4)
		if len(p6) > 0 {
			dst = appendIntList(bencode.AppendString(dst, "bids6"), b6)
		}
	}
	dst = bencode.AppendInt(bencode.AppendString(dst, "complete"), int64(resp.Complete))
	dst = bencode.AppendInt(bencode.AppendString(dst, "incomplete"), int64(resp.Incomplete))
	dst = bencode.AppendInt(bencode.AppendString(dst, "interval"), int64(resp.Interval/time.Second))
	if resp.MinInterval > 0 {
		dst = bencode.AppendInt(bencode.AppendString(dst, "min interval"), int64(resp.MinInterval/time.Second))
	}
	dst = bencode.AppendString(dst, "peers")
	if opt.Compact {
		dst = bencode.AppendBytes(dst, p4) // always present, even empty
		if len(p6) > 0 {
			dst = bencode.AppendBytes(bencode.AppendString(dst, "peers6"), p6)
		}
	} else {
		dst = append(dst, 'l')
		for _, p := range resp.Peers {
			dst = append(dst, 'd')
			if resp.HasBids {
				dst = bencode.AppendInt(bencode.AppendString(dst, "bid"), int64(p.Bid))
			}
			dst = bencode.AppendString(bencode.AppendString(dst, "ip"), p.Addr.Addr().Unmap().String())
			if !opt.NoPeerID {
				dst = bencode.AppendBytes(bencode.AppendString(dst, "peer id"), p.ID[:])
			}
			dst = bencode.AppendInt(bencode.AppendString(dst, "port"), int64(p.Addr.Port()))
			dst = append(dst, 'e')
		}
		dst = append(dst, 'e')
	}
	if resp.Warning != "" {
		dst = bencode.AppendString(bencode.AppendString(dst, "warning message"), resp.Warning)
	}
	return append(dst, 'e'), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func appendIntList(dst []byte, v []uint64) []byte {
	dst = append(dst, 'l')
	for _, n := range v {
		dst = bencode.AppendInt(dst, int64(n))
	}
	return append(dst, 'e')
}

// EncodeHTTPFailure encodes a "failure reason" reply.
func EncodeHTTPFailure(reason string) []byte {
	b, _ := bencode.Marshal(struct {
		Failure string `bencode:"failure reason"`
	}{reason})
	return b
}

// appendCompact appends a BEP 23 compact address of size 4 or 16 plus port.
func appendCompact(dst []byte, ap netip.AddrPort, size int) []byte {
	if size == 4 {
		a := ap.Addr().Unmap().As4()
		dst = append(dst, a[:]...)
	} else {
		a := ap.Addr().As16()
		dst = append(dst, a[:]...)
	}
	return binary.BigEndian.AppendUint16(dst, ap.Port())
}

// parseCompact splits a compact peer string into addresses of size 4 or 16.
func parseCompact(b []byte, size int) ([]Peer, error) {
	step := size + 2
	if len(b)%step != 0 {
		return nil, fmt.Errorf("%w: compact peers of %d bytes, not a multiple of %d", ErrMalformed, len(b), step)
	}
	peers := make([]Peer, 0, len(b)/step)
	for ; len(b) > 0; b = b[step:] {
		var a netip.Addr
		if size == 4 {
			a = netip.AddrFrom4([4]byte(b[:4]))
		} else {
			a = netip.AddrFrom16([16]byte(b[:16]))
		}
		peers = append(peers, Peer{Addr: netip.AddrPortFrom(a, binary.BigEndian.Uint16(b[size:]))})
	}
	return peers, nil
}

// DecodeHTTPAnnounce decodes the bencoded body of an HTTP announce reply. A
// "failure reason" is returned as a *FailureError.
func DecodeHTTPAnnounce(body []byte) (AnnounceResponse, error) {
	var resp AnnounceResponse
	var r httpReply
	if err := bencode.Unmarshal(body, &r); err != nil {
		return resp, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if r.Failure != "" {
		return resp, &FailureError{Reason: r.Failure}
	}
	if r.Interval < 0 || r.MinInterval < 0 || r.Complete < 0 || r.Incomplete < 0 ||
		r.Interval > 1<<31 || r.MinInterval > 1<<31 || r.Complete > 1<<31 || r.Incomplete > 1<<31 {
		return resp, fmt.Errorf("%w: counter out of range", ErrMalformed)
	}
	resp.Interval = time.Duration(r.Interval) * time.Second
	resp.MinInterval = time.Duration(r.MinInterval) * time.Second
	resp.Complete, resp.Incomplete = int(r.Complete), int(r.Incomplete)
	resp.Warning = r.Warning
	if len(r.Peers) > 0 {
		if r.Peers[0] == 'l' {
			var list []dictPeer
			if err := bencode.Unmarshal(r.Peers, &list); err != nil {
				return resp, fmt.Errorf("%w: peers: %w", ErrMalformed, err)
			}
			for _, d := range list {
				a, err := netip.ParseAddr(d.IP)
				if err != nil || d.Port < 0 || d.Port > 65535 {
					// A peer given by DNS name or with a broken port is skipped: resolving
					// names the tracker hands out would let it aim us at anyone.
					continue
				}
				if d.Bid > 0 {
					resp.HasBids = true
				}
				p := Peer{Addr: netip.AddrPortFrom(a.Unmap(), uint16(d.Port)), Bid: d.Bid}
				copy(p.ID[:], d.PeerID)
				resp.Peers = append(resp.Peers, p)
			}
		} else {
			var s []byte
			if err := bencode.Unmarshal(r.Peers, &s); err != nil {
				return resp, fmt.Errorf("%w: peers: %w", ErrMalformed, err)
			}
			ps, err := parseCompact(s, 4)
			if err != nil {
				return resp, err
			}
			if err := attachBids(ps, r.Bids, &resp.HasBids); err != nil {
				return resp, err
			}
			resp.Peers = append(resp.Peers, ps...)
		}
	}
	if len(r.Peers6) > 0 {
		var s []byte
		if err := bencode.Unmarshal(r.Peers6, &s); err != nil {
			return resp, fmt.Errorf("%w: peers6: %w", ErrMalformed, err)
		}
		ps, err := parseCompact(s, 16)
		if err != nil {
			return resp, err
		}
		if err := attachBids(ps, r.Bids6, &resp.HasBids); err != nil {
			return resp, err
		}
		resp.Peers = append(resp.Peers, ps...)
	}
	return resp, nil
}

func attachBids(ps []Peer, bids []uint64, has *bool) error {
	if bids == nil {
		return nil
	}
	if len(bids) != len(ps) {
		return fmt.Errorf("%w: %d bids for %d peers", ErrMalformed, len(bids), len(ps))
	}
	for i := range ps {
		ps[i].Bid = bids[i]
	}
	*has = true
	return nil
}

type scrapeReply struct {
	Failure string                    `bencode:"failure reason,omitempty"`
	Files   map[string]scrapeFileDict `bencode:"files"`
}

type scrapeFileDict struct {
	Complete   int64 `bencode:"complete"`
	Downloaded int64 `bencode:"downloaded"`
	Incomplete int64 `bencode:"incomplete"`
}

// EncodeHTTPScrape encodes a scrape reply (server side).
func EncodeHTTPScrape(files map[[20]byte]ScrapeResult) []byte {
	r := scrapeReply{Files: make(map[string]scrapeFileDict, len(files))}
	for ih, f := range files {
		r.Files[string(ih[:])] = scrapeFileDict{int64(f.Complete), int64(f.Downloaded), int64(f.Incomplete)}
	}
	b, _ := bencode.Marshal(r)
	return b
}

// DecodeHTTPScrape decodes a scrape reply body.
func DecodeHTTPScrape(body []byte) (map[[20]byte]ScrapeResult, error) {
	var r scrapeReply
	if err := bencode.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if r.Failure != "" {
		return nil, &FailureError{Reason: r.Failure}
	}
	out := make(map[[20]byte]ScrapeResult, len(r.Files))
	for k, f := range r.Files {
		if len(k) != 20 || f.Complete < 0 || f.Downloaded < 0 || f.Incomplete < 0 ||
			f.Complete > 1<<31 || f.Downloaded > 1<<31 || f.Incomplete > 1<<31 {
			return nil, fmt.Errorf("%w: scrape entry", ErrMalformed)
		}
		out[[20]byte([]byte(k))] = ScrapeResult{int(f.Complete), int(f.Downloaded), int(f.Incomplete)}
	}
	return out, nil
}
