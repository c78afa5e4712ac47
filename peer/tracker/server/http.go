package server

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/speedbt/btt/wire/tracker"
)

// HTTPHandler serves a Tracker over HTTP: GET /announce (BEP 3, with Speed's
// bid, top and min_bid), GET /scrape (BEP 48), and GET /scrape?bid_scrape=1
// with offset and limit (Speed's bid-scrape). Failures are bencoded
// "failure reason" replies, as clients expect.
type HTTPHandler struct {
	Tracker *Tracker
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// maxQuery bounds the request query a handler parses: an announce is about
// 300 bytes, a scrape of 74 hashes about 4.5 KiB.
const maxQuery = 8 << 10

func (h *HTTPHandler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if r.Method != http.MethodGet {
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		fail(w, http.StatusBadRequest, "unknown source address")
		return
	}
	now := h.now()
	if !h.Tracker.Allow(ap.Addr(), now) {
		fail(w, http.StatusTooManyRequests, ErrRateLimited.Error())
		return
	}
	if len(r.URL.RawQuery) > maxQuery {
		fail(w, http.StatusRequestURITooLong, "query too long")
		return
	}
	switch r.URL.Path {
	case "/announce":
		h.announce(w, r, ap.Addr(), now)
	case "/scrape":
		h.scrape(w, r, now)
	default:
		fail(w, http.StatusNotFound, "not found")
	}
}

func fail(w http.ResponseWriter, status int, reason string) {
	w.WriteHeader(status)
	w.Write(tracker.EncodeHTTPFailure(reason))
}

func (h *HTTPHandler) announce(w http.ResponseWriter, r *http.Request, src netip.Addr, now time.Time) {
	req, opt, err := tracker.ParseHTTPAnnounce(r.URL.RawQuery)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	resp, err := h.Tracker.Announce(now, src, req)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrFull) {
			status = http.StatusServiceUnavailable
		}
		fail(w, status, err.Error())
		return
	}
	body, err := tracker.EncodeHTTPAnnounce(resp, opt)
	if err != nil {
		fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func (h *HTTPHandler) scrape(w http.ResponseWriter, r *http.Request, now time.Time) {
	q, hashes, err := tracker.ParseQuery(r.URL.RawQuery, tracker.MaxUDPScrape+8)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if offset, limit, ok, err := tracker.ParseBidScrapeQuery(q); ok {
		if err != nil {
			fail(w, http.StatusBadRequest, "bid_scrape: "+err.Error())
			return
		}
		w.Write(tracker.EncodeBidScrape(h.Tracker.BidScrape(now, offset, limit)))
		return
	}
	if len(hashes) == 0 {
		// A full scrape would be O(torrents) per request: not offered.
		fail(w, http.StatusBadRequest, "scrape needs info_hash")
		return
	}
	res := h.Tracker.Scrape(hashes)
	files := make(map[[20]byte]tracker.ScrapeResult, len(hashes))
	for i, ih := range hashes {
		files[ih] = res[i]
	}
	w.Write(tracker.EncodeHTTPScrape(files))
}
