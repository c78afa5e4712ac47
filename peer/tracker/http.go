package tracker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// MaxHTTPResponse bounds the body of an HTTP tracker reply the client reads.
// 200 peers in dictionary form fit in about 20 KiB; 1 MiB leaves room for
// trackers that ignore numwant without letting one exhaust memory.
const MaxHTTPResponse = 1 << 20

// announceHTTP sends one HTTP announce.
func (c *Client) announceHTTP(ctx context.Context, u *url.URL, req wiretracker.AnnounceRequest) (wiretracker.AnnounceResponse, error) {
	q := make([]byte, 0, 256)
	if u.RawQuery != "" {
		q = append(q, u.RawQuery...)
		q = append(q, '&')
	}
	q = wiretracker.AppendHTTPQuery(q, req)
	uu := *u
	uu.RawQuery = string(q)
	body, err := c.get(ctx, &uu)
	if err != nil {
		return wiretracker.AnnounceResponse{}, err
	}
	resp, err := wiretracker.DecodeHTTPAnnounce(body)
	if err != nil {
		return resp, fmt.Errorf("announce %s: %w", u.Redacted(), err)
	}
	return resp, nil
}

func (c *Client) get(ctx context.Context, u *url.URL) ([]byte, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.UserAgent != "" {
		hreq.Header.Set("User-Agent", c.UserAgent)
	}
	hresp, err := c.httpClient().Do(hreq)
	if err != nil {
		return nil, err
	}
	defer hresp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(hresp.Body, MaxHTTPResponse+1))
	if err != nil {
		return nil, fmt.Errorf("tracker %s: %w", u.Redacted(), err)
	}
	if len(body) > MaxHTTPResponse {
		return nil, fmt.Errorf("%w: %s: reply over %d bytes", wiretracker.ErrMalformed, u.Redacted(), MaxHTTPResponse)
	}
	// Trackers send failures with 200 or with an error status; a bencoded body
	// explains more than the status does.
	if hresp.StatusCode != http.StatusOK && (len(body) == 0 || body[0] != 'd') {
		return nil, fmt.Errorf("tracker %s: HTTP %s", u.Redacted(), hresp.Status)
	}
	return body, nil
}

// ScrapeURL derives the BEP 48 scrape URL of an HTTP announce URL: the last
// path element must start with "announce", which becomes "scrape".
func ScrapeURL(announce string) (string, error) {
	u, err := url.Parse(announce)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnsupportedURL, err)
	}
	i := strings.LastIndexByte(u.Path, '/')
	if i < 0 || !strings.HasPrefix(u.Path[i+1:], "announce") {
		return "", fmt.Errorf("%w: %s has no scrape URL", ErrUnsupportedURL, u.Redacted())
	}
	u.Path = u.Path[:i+1] + "scrape" + strings.TrimPrefix(u.Path[i+1:], "announce")
	return u.String(), nil
}

func (c *Client) scrapeHTTP(ctx context.Context, announce string, hashes [][20]byte) (map[[20]byte]wiretracker.ScrapeResult, error) {
	su, err := ScrapeURL(announce)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(su)
	if err != nil {
		return nil, err
	}
	q := []byte(u.RawQuery)
	if len(q) > 0 {
		q = append(q, '&')
	}
	u.RawQuery = string(wiretracker.AppendHTTPScrapeQuery(q, hashes))
	body, err := c.get(ctx, u)
	if err != nil {
		return nil, err
	}
	return wiretracker.DecodeHTTPScrape(body)
}
