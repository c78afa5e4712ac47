package tracker

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/speedbt/btt/wire/bencode"
)

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
func (c *Client) Announce(ctx context.Context, rawURL string, req AnnounceRequest) (AnnounceResponse, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return AnnounceResponse{}, fmt.Errorf("%w: %w", ErrUnsupportedURL, err)
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
	return AnnounceResponse{}, fmt.Errorf("%w: scheme %q", ErrUnsupportedURL, u.Scheme)
}

// Scrape asks the tracker at announce URL rawURL for the counts of hashes.
// Hashes the tracker does not know are missing from the map (HTTP) or zero
// (UDP, which cannot tell them apart).
func (c *Client) Scrape(ctx context.Context, rawURL string, hashes [][20]byte) (map[[20]byte]ScrapeResult, error) {
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
func Announce(ctx context.Context, rawURL string, req AnnounceRequest) (AnnounceResponse, error) {
	return new(Client).Announce(ctx, rawURL, req)
}

// Scrape scrapes with a fresh Client.
func Scrape(ctx context.Context, rawURL string, hashes [][20]byte) (map[[20]byte]ScrapeResult, error) {
	return new(Client).Scrape(ctx, rawURL, hashes)
}

// BidScrapeEntry is one torrent in a bid-scrape reply: the highest current
// bid announced for it and how many peers announced a bid.
type BidScrapeEntry struct {
	InfoHash [20]byte
	High     uint64
	Count    int
}

// BidScrapePage is one page of a bid-scrape, highest bids first. Next is the
// offset of the following page, 0 when this is the last one.
type BidScrapePage struct {
	Entries []BidScrapeEntry
	Next    int
}

type bidScrapeReply struct {
	Failure string          `bencode:"failure reason,omitempty"`
	Bids    []bidScrapeDict `bencode:"bids"`
	Next    int64           `bencode:"next,omitempty"`
}

type bidScrapeDict struct {
	Count    int64  `bencode:"count"`
	High     uint64 `bencode:"high"`
	InfoHash []byte `bencode:"info_hash"`
}

// MaxBidScrapeLimit is the largest page a bid-scrape returns.
const MaxBidScrapeLimit = 200

// EncodeBidScrape encodes a bid-scrape reply (server side).
func EncodeBidScrape(p BidScrapePage) []byte {
	r := bidScrapeReply{Bids: make([]bidScrapeDict, 0, len(p.Entries)), Next: int64(p.Next)}
	for _, e := range p.Entries {
		r.Bids = append(r.Bids, bidScrapeDict{Count: int64(e.Count), High: e.High, InfoHash: e.InfoHash[:]})
	}
	b, _ := bencode.Marshal(r)
	return b
}

// DecodeBidScrape decodes a bid-scrape reply.
func DecodeBidScrape(body []byte) (BidScrapePage, error) {
	var p BidScrapePage
	var r bidScrapeReply
	if err := bencode.Unmarshal(body, &r); err != nil {
		return p, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if r.Failure != "" {
		return p, &FailureError{Reason: r.Failure}
	}
	if r.Next < 0 || r.Next > 1<<31 {
		return p, fmt.Errorf("%w: next %d", ErrMalformed, r.Next)
	}
	p.Next = int(r.Next)
	for _, d := range r.Bids {
		if len(d.InfoHash) != 20 || d.Count < 0 || d.Count > 1<<31 {
			return p, fmt.Errorf("%w: bid-scrape entry", ErrMalformed)
		}
		p.Entries = append(p.Entries, BidScrapeEntry{InfoHash: [20]byte(d.InfoHash), High: d.High, Count: int(d.Count)})
	}
	return p, nil
}

// BidScrape fetches one page of the bid-scrape of the HTTP tracker at
// announce URL rawURL: torrents with current bids, highest first, starting at
// offset, at most limit (capped by the tracker at MaxBidScrapeLimit).
func (c *Client) BidScrape(ctx context.Context, rawURL string, offset, limit int) (BidScrapePage, error) {
	su, err := ScrapeURL(rawURL)
	if err != nil {
		return BidScrapePage{}, err
	}
	u, err := url.Parse(su)
	if err != nil {
		return BidScrapePage{}, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return BidScrapePage{}, fmt.Errorf("%w: bid-scrape needs an HTTP tracker", ErrUnsupportedURL)
	}
	q := "bid_scrape=1&offset=" + strconv.Itoa(max(offset, 0)) + "&limit=" + strconv.Itoa(max(limit, 1))
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	body, err := c.get(ctx, u)
	if err != nil {
		return BidScrapePage{}, err
	}
	return DecodeBidScrape(body)
}
