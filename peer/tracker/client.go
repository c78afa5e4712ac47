package tracker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// ErrUnsupportedURL: the announce URL's scheme is not http, https or udp, or
// an HTTP announce URL has no scrape URL. Every other error of the client
// wraps wiretracker.ErrMalformed, a *wiretracker.FailureError or a transport
// error (net, context).
var ErrUnsupportedURL = errors.New("tracker: unsupported URL")

// A Client announces to and scrapes trackers. The zero value is ready to use;
// it caches UDP connection ids, so keep one per session.
type Client struct {
	// HTTP is the client for http and https trackers; nil means
	// http.DefaultClient. Bound every call with a context.
	HTTP *http.Client
	// UDPTimeout is the first UDP retransmission timeout; try n waits
	// UDPTimeout * 2^n. Zero means BEP 15's 15 seconds.
	UDPTimeout time.Duration
	// UDPRetries is how many times a UDP request is retransmitted; zero
	// means BEP 15's 8.
	UDPRetries int
	// UserAgent, when set, is sent with HTTP requests.
	UserAgent string
	// LocalAddr, when a specific address, is where announces and scrapes leave
	// from (the session's listen address), over HTTP (unless HTTP is set) and
	// UDP; trackers of the other address family cannot be reached then.
	LocalAddr netip.Addr

	mu      sync.Mutex
	connIDs map[string]connIDEntry
	bound   *http.Client // built on first use when LocalAddr is set
}

// Announce sends one announce to the tracker at rawURL (http, https or udp).
func (c *Client) Announce(ctx context.Context, rawURL string, req wiretracker.AnnounceRequest) (wiretracker.AnnounceResponse, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return wiretracker.AnnounceResponse{}, fmt.Errorf("%w: %w", ErrUnsupportedURL, err)
	}
	switch u.Scheme {
	case "http", "https":
		return c.announceHTTP(ctx, u, req)
	case "udp":
		path := u.EscapedPath()
		if u.RawQuery != "" {
			path += "?" + u.RawQuery
		}
		return c.announceUDP(ctx, u.Host, path, req)
	}
	return wiretracker.AnnounceResponse{}, fmt.Errorf("%w: scheme %q", ErrUnsupportedURL, u.Scheme)
}

// Scrape asks the tracker at announce URL rawURL for the counts of hashes.
// Hashes the tracker does not know are missing from the map (HTTP) or zero
// (UDP, which cannot tell them apart).
func (c *Client) Scrape(ctx context.Context, rawURL string, hashes [][20]byte) (map[[20]byte]wiretracker.ScrapeResult, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupportedURL, err)
	}
	switch u.Scheme {
	case "http", "https":
		return c.scrapeHTTP(ctx, rawURL, hashes)
	case "udp":
		return c.scrapeUDP(ctx, u.Host, hashes)
	}
	return nil, fmt.Errorf("%w: scheme %q", ErrUnsupportedURL, u.Scheme)
}

// Announce sends one announce with a fresh Client.
func Announce(ctx context.Context, rawURL string, req wiretracker.AnnounceRequest) (wiretracker.AnnounceResponse, error) {
	return new(Client).Announce(ctx, rawURL, req)
}

// Scrape scrapes with a fresh Client.
func Scrape(ctx context.Context, rawURL string, hashes [][20]byte) (map[[20]byte]wiretracker.ScrapeResult, error) {
	return new(Client).Scrape(ctx, rawURL, hashes)
}

// BidScrape fetches one page of the bid-scrape of the HTTP tracker at
// announce URL rawURL: torrents with current bids, highest first, starting at
// offset, at most limit (capped by the tracker at MaxBidScrapeLimit).
func (c *Client) BidScrape(ctx context.Context, rawURL string, offset, limit int) (wiretracker.BidScrapePage, error) {
	su, err := ScrapeURL(rawURL)
	if err != nil {
		return wiretracker.BidScrapePage{}, err
	}
	u, err := url.Parse(su)
	if err != nil {
		return wiretracker.BidScrapePage{}, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return wiretracker.BidScrapePage{}, fmt.Errorf("%w: bid-scrape needs an HTTP tracker", ErrUnsupportedURL)
	}
	q := []byte(u.RawQuery)
	if len(q) > 0 {
		q = append(q, '&')
	}
	u.RawQuery = string(wiretracker.AppendBidScrapeQuery(q, offset, limit))
	body, err := c.get(ctx, u)
	if err != nil {
		return wiretracker.BidScrapePage{}, err
	}
	return wiretracker.DecodeBidScrape(body)
}
