package tracker

import (
	"fmt"
	"strconv"

	"github.com/speedbt/btt/wire/bencode"
)

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

// DefaultBidScrapeLimit is the page size of a bid-scrape that names none.
const DefaultBidScrapeLimit = 50

// AppendBidScrapeQuery appends the query of a bid-scrape page (without the
// leading '?'): bid_scrape=1 with offset and limit.
func AppendBidScrapeQuery(dst []byte, offset, limit int) []byte {
	dst = append(dst, "bid_scrape=1&offset="...)
	dst = strconv.AppendInt(dst, int64(max(offset, 0)), 10)
	dst = append(dst, "&limit="...)
	return strconv.AppendInt(dst, int64(max(limit, 1)), 10)
}

// ParseBidScrapeQuery reads a scrape query (server side). ok says it asks
// for a bid-scrape; a missing offset is 0 and a missing limit
// DefaultBidScrapeLimit. The limit is not capped here: the tracker caps it.
func ParseBidScrapeQuery(q Query) (offset, limit int, ok bool, err error) {
	if q["bid_scrape"] != "1" {
		return 0, 0, false, nil
	}
	off, err1 := q.uintParam("offset", 0, 1<<31)
	lim, err2 := q.uintParam("limit", DefaultBidScrapeLimit, 1<<31)
	if err := firstErr(err1, err2); err != nil {
		return 0, 0, true, err
	}
	if lim < 1 {
		return 0, 0, true, fmt.Errorf("%w: bid_scrape limit 0", ErrMalformed)
	}
	return int(off), int(lim), true, nil
}

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
