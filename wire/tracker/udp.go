package tracker

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// BEP 15 constants.
const (
	udpProtocolID = 0x41727101980

	ActionConnect  = 0
	ActionAnnounce = 1
	ActionScrape   = 2
	ActionError    = 3
	// ActionAnnounceBids is the action of a reply to an announce that asked
	// for the highest bidders (Speed, docs/bep-speed.md section 10.2): its
	// peers carry bids. A distinct action keeps the reply unambiguous: a
	// tracker without the extension answers action 1 with plain peers.
	ActionAnnounceBids = 0x5350 // "SP"

	// MaxUDPPacket is the largest UDP tracker packet either side reads: a
	// scrape of 74 hashes or an announce reply of ~240 IPv6 peers with bids.
	MaxUDPPacket = 2048
	// MaxUDPScrape is how many info-hashes fit one UDP scrape (BEP 15).
	MaxUDPScrape = 74

	udpAnnounceLen = 98
)

// UDPAnnounce is a decoded UDP announce request (server side), with the BEP 41
// URL data it carried (path and query, e.g. "/announce?bid=5").
type UDPAnnounce struct {
	ConnID        uint64
	TransactionID uint32
	Request       AnnounceRequest
	URLData       string
}

// AppendUDPConnect appends a connect request.
func AppendUDPConnect(dst []byte, tid uint32) []byte {
	dst = binary.BigEndian.AppendUint64(dst, udpProtocolID)
	dst = binary.BigEndian.AppendUint32(dst, ActionConnect)
	return binary.BigEndian.AppendUint32(dst, tid)
}

// AppendUDPAnnounce appends an announce request. Speed's parameters travel as
// a query in BEP 41 URL data after path (docs/bep-speed.md section 10).
func AppendUDPAnnounce(dst []byte, connID uint64, tid uint32, path string, req AnnounceRequest) []byte {
	dst = binary.BigEndian.AppendUint64(dst, connID)
	dst = binary.BigEndian.AppendUint32(dst, ActionAnnounce)
	dst = binary.BigEndian.AppendUint32(dst, tid)
	dst = append(dst, req.InfoHash[:]...)
	dst = append(dst, req.PeerID[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(max(req.Downloaded, 0)))
	dst = binary.BigEndian.AppendUint64(dst, uint64(max(req.Left, 0)))
	dst = binary.BigEndian.AppendUint64(dst, uint64(max(req.Uploaded, 0)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(req.Event))
	var ip [4]byte
	if req.IP.Is4() {
		ip = req.IP.As4()
	}
	dst = append(dst, ip[:]...)
	dst = binary.BigEndian.AppendUint32(dst, req.Key)
	nw := int32(-1)
	if req.NumWant > 0 {
		nw = int32(min(req.NumWant, math.MaxInt32))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(nw))
	dst = binary.BigEndian.AppendUint16(dst, req.Port)
	data := path
	if q := appendSpeedQuery(nil, req); len(q) > 0 {
		data += "?" + string(q[1:])
	}
	// BEP 41: option 2 (URL data) in pieces of at most 255 bytes.
	for len(data) > 0 {
		n := min(len(data), 255)
		dst = append(dst, 2, byte(n))
		dst = append(dst, data[:n]...)
		data = data[n:]
	}
	return dst
}

// ParseUDPAnnounce decodes an announce request (server side), including the
// BEP 41 options after the fixed 98 bytes and the Speed parameters in them.
func ParseUDPAnnounce(b []byte) (UDPAnnounce, error) {
	var a UDPAnnounce
	if len(b) < udpAnnounceLen {
		return a, fmt.Errorf("%w: announce of %d bytes", ErrMalformed, len(b))
	}
	if binary.BigEndian.Uint32(b[8:]) != ActionAnnounce {
		return a, fmt.Errorf("%w: not an announce", ErrMalformed)
	}
	a.ConnID = binary.BigEndian.Uint64(b)
	a.TransactionID = binary.BigEndian.Uint32(b[12:])
	r := &a.Request
	copy(r.InfoHash[:], b[16:36])
	copy(r.PeerID[:], b[36:56])
	down, left, up := binary.BigEndian.Uint64(b[56:]), binary.BigEndian.Uint64(b[64:]), binary.BigEndian.Uint64(b[72:])
	if down > 1<<62 || left > 1<<62 || up > 1<<62 {
		return a, fmt.Errorf("%w: counter out of range", ErrMalformed)
	}
	r.Downloaded, r.Left, r.Uploaded = int64(down), int64(left), int64(up)
	ev := binary.BigEndian.Uint32(b[80:])
	if ev > uint32(EventStopped) {
		return a, fmt.Errorf("%w: event %d", ErrMalformed, ev)
	}
	r.Event = Event(ev)
	if ip := [4]byte(b[84:88]); ip != [4]byte{} {
		r.IP = netip.AddrFrom4(ip)
	}
	r.Key = binary.BigEndian.Uint32(b[88:])
	if nw := int32(binary.BigEndian.Uint32(b[92:])); nw > 0 {
		r.NumWant = int(nw)
	}
	r.Port = binary.BigEndian.Uint16(b[96:])
	var data strings.Builder
	for opts := b[udpAnnounceLen:]; len(opts) > 0; {
		switch opts[0] {
		case 0: // end of options
			opts = nil
		case 1: // NOP
			opts = opts[1:]
		default:
			// Option 2 is URL data; BEP 41 gives every other option a length
			// byte too, so unknown ones are skipped.
			if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
				return a, fmt.Errorf("%w: truncated option %d", ErrMalformed, opts[0])
			}
			n := 2 + int(opts[1]) // int: 2+255 must not wrap as a byte
			if opts[0] == 2 {
				data.Write(opts[2:n])
			}
			opts = opts[n:]
		}
	}
	a.URLData = data.String()
	if _, rawq, ok := strings.Cut(a.URLData, "?"); ok {
		q, _, err := ParseQuery(rawq, 16)
		if err != nil {
			return a, err
		}
		if err := parseSpeedQuery(q, r); err != nil {
			return a, err
		}
	}
	return a, nil
}

// AppendUDPAnnounceReply appends an announce reply. Peers are 6 bytes each
// (18 for IPv6 when ipv6 is set; peers of the other family are left out),
// each followed by its 8-byte bid when withBids (a reply to a Top request).
func AppendUDPAnnounceReply(dst []byte, tid uint32, resp AnnounceResponse, ipv6, withBids bool) []byte {
	action := uint32(ActionAnnounce)
	if withBids {
		action = ActionAnnounceBids
	}
	dst = binary.BigEndian.AppendUint32(dst, action)
	dst = binary.BigEndian.AppendUint32(dst, tid)
	dst = binary.BigEndian.AppendUint32(dst, uint32(resp.Interval/time.Second))
	dst = binary.BigEndian.AppendUint32(dst, uint32(resp.Incomplete))
	dst = binary.BigEndian.AppendUint32(dst, uint32(resp.Complete))
	for _, p := range resp.Peers {
		// The tracker stores plain IPv4 addresses; an IPv4-mapped IPv6 one
		// counts as IPv6 here, so what a client parsed re-encodes the same.
		is4 := p.Addr.Addr().Is4()
		if is4 == ipv6 {
			continue
		}
		if ipv6 {
			dst = appendCompact(dst, p.Addr, 16)
		} else {
			dst = appendCompact(dst, p.Addr, 4)
		}
		if withBids {
			dst = binary.BigEndian.AppendUint64(dst, p.Bid)
		}
	}
	return dst
}

// ParseUDPAnnounceReply decodes an announce reply to transaction tid.
// askedBids says the request asked for the highest bidders: then a reply
// with bids (action ActionAnnounceBids) is accepted as well as a plain one
// from a tracker without the extension.
func ParseUDPAnnounceReply(b []byte, tid uint32, ipv6, askedBids bool) (AnnounceResponse, error) {
	var resp AnnounceResponse
	withBids := false
	if askedBids && len(b) >= 4 && binary.BigEndian.Uint32(b) == ActionAnnounceBids {
		withBids = true
		if err := checkUDPReply(b, ActionAnnounceBids, tid, 20); err != nil {
			return resp, err
		}
	} else if err := checkUDPReply(b, ActionAnnounce, tid, 20); err != nil {
		return resp, err
	}
	iv := binary.BigEndian.Uint32(b[8:])
	if iv > 1<<31 {
		return resp, fmt.Errorf("%w: interval %d", ErrMalformed, iv)
	}
	resp.Interval = time.Duration(iv) * time.Second
	resp.Incomplete = int(binary.BigEndian.Uint32(b[12:]) & (1<<31 - 1))
	resp.Complete = int(binary.BigEndian.Uint32(b[16:]) & (1<<31 - 1))
	size := 4
	if ipv6 {
		size = 16
	}
	step := size + 2
	if withBids {
		step += 8
	}
	rest := b[20:]
	if len(rest)%step != 0 {
		return resp, fmt.Errorf("%w: %d bytes of peers, not a multiple of %d", ErrMalformed, len(rest), step)
	}
	resp.HasBids = withBids
	resp.Peers = make([]Peer, 0, len(rest)/step)
	for ; len(rest) > 0; rest = rest[step:] {
		ps, _ := parseCompact(rest[:size+2], size)
		p := ps[0]
		if withBids {
			p.Bid = binary.BigEndian.Uint64(rest[size+2:])
		}
		resp.Peers = append(resp.Peers, p)
	}
	return resp, nil
}

// AppendUDPError appends an error reply.
func AppendUDPError(dst []byte, tid uint32, msg string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, ActionError)
	dst = binary.BigEndian.AppendUint32(dst, tid)
	return append(dst, msg...)
}

// checkUDPReply checks a reply's action and transaction id and its minimum
// length; an error action becomes a *FailureError.
func checkUDPReply(b []byte, action, tid uint32, minLen int) error {
	if len(b) < 8 {
		return fmt.Errorf("%w: reply of %d bytes", ErrMalformed, len(b))
	}
	if got := binary.BigEndian.Uint32(b[4:]); got != tid {
		return fmt.Errorf("%w: transaction id %#x, want %#x", ErrWrongTransaction, got, tid)
	}
	switch got := binary.BigEndian.Uint32(b); {
	case got == ActionError:
		return &FailureError{Reason: string(b[8:min(len(b), 8+512)])}
	case got != action:
		return fmt.Errorf("%w: action %d, want %d", ErrMalformed, got, action)
	case len(b) < minLen:
		return fmt.Errorf("%w: reply of %d bytes, want at least %d", ErrMalformed, len(b), minLen)
	}
	return nil
}

// ErrWrongTransaction marks a reply to another transaction (a late answer to
// an earlier try): a client keeps waiting instead of failing. It wraps
// ErrMalformed.
var ErrWrongTransaction = fmt.Errorf("%w: unexpected transaction", ErrMalformed)

// ParseUDPConnectReply decodes a connect reply and returns the connection id.
func ParseUDPConnectReply(b []byte, tid uint32) (uint64, error) {
	if err := checkUDPReply(b, ActionConnect, tid, 16); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[8:]), nil
}

// AppendUDPConnectReply appends a connect reply.
func AppendUDPConnectReply(dst []byte, tid uint32, connID uint64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, ActionConnect)
	dst = binary.BigEndian.AppendUint32(dst, tid)
	return binary.BigEndian.AppendUint64(dst, connID)
}

// AppendUDPScrape appends a scrape request for at most MaxUDPScrape hashes.
func AppendUDPScrape(dst []byte, connID uint64, tid uint32, hashes [][20]byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, connID)
	dst = binary.BigEndian.AppendUint32(dst, ActionScrape)
	dst = binary.BigEndian.AppendUint32(dst, tid)
	for _, ih := range hashes[:min(len(hashes), MaxUDPScrape)] {
		dst = append(dst, ih[:]...)
	}
	return dst
}

// ParseUDPScrape decodes a scrape request (server side).
func ParseUDPScrape(b []byte) (connID uint64, tid uint32, hashes [][20]byte, err error) {
	if len(b) < 16+20 || (len(b)-16)%20 != 0 || (len(b)-16)/20 > MaxUDPScrape {
		return 0, 0, nil, fmt.Errorf("%w: scrape of %d bytes", ErrMalformed, len(b))
	}
	connID, tid = binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[12:])
	for rest := b[16:]; len(rest) > 0; rest = rest[20:] {
		hashes = append(hashes, [20]byte(rest[:20]))
	}
	return connID, tid, hashes, nil
}

// AppendUDPScrapeReply appends a scrape reply, one entry per requested hash.
func AppendUDPScrapeReply(dst []byte, tid uint32, res []ScrapeResult) []byte {
	dst = binary.BigEndian.AppendUint32(dst, ActionScrape)
	dst = binary.BigEndian.AppendUint32(dst, tid)
	for _, r := range res {
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.Complete))
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.Downloaded))
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.Incomplete))
	}
	return dst
}

// ParseUDPScrapeReply decodes a scrape reply for n hashes.
func ParseUDPScrapeReply(b []byte, tid uint32, n int) ([]ScrapeResult, error) {
	if err := checkUDPReply(b, ActionScrape, tid, 8); err != nil {
		return nil, err
	}
	if len(b) != 8+12*n {
		return nil, fmt.Errorf("%w: scrape reply of %d bytes for %d hashes", ErrMalformed, len(b), n)
	}
	out := make([]ScrapeResult, n)
	for i := range out {
		e := b[8+12*i:]
		out[i] = ScrapeResult{
			Complete:   int(binary.BigEndian.Uint32(e) & (1<<31 - 1)),
			Downloaded: int(binary.BigEndian.Uint32(e[4:]) & (1<<31 - 1)),
			Incomplete: int(binary.BigEndian.Uint32(e[8:]) & (1<<31 - 1)),
		}
	}
	return out, nil
}
