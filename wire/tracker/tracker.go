package tracker

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Event is the announce event (BEP 3). The zero value is a regular announce.
type Event int

// Announce events, numbered as on the UDP wire (BEP 15).
const (
	EventNone Event = iota
	EventCompleted
	EventStarted
	EventStopped
)

// String returns the HTTP spelling of the event ("" for EventNone).
func (e Event) String() string {
	switch e {
	case EventCompleted:
		return "completed"
	case EventStarted:
		return "started"
	case EventStopped:
		return "stopped"
	}
	return ""
}

// ParseEvent parses the HTTP spelling of an event; "" and "empty" are EventNone.
func ParseEvent(s string) (Event, error) {
	switch s {
	case "", "empty":
		return EventNone, nil
	case "completed":
		return EventCompleted, nil
	case "started":
		return EventStarted, nil
	case "stopped":
		return EventStopped, nil
	}
	return 0, fmt.Errorf("%w: unknown event %q", ErrMalformed, s)
}

// AnnounceRequest is what a client tells a tracker about itself and one torrent.
type AnnounceRequest struct {
	InfoHash   [20]byte
	PeerID     [20]byte
	Port       uint16
	Uploaded   int64
	Downloaded int64
	Left       int64
	Event      Event
	// NumWant is how many peers the client wants; 0 means the tracker's default.
	NumWant int
	Key     uint32
	// IP is the address the client wants to be reached at; the zero value means
	// the address the request came from. Trackers are free to ignore it.
	IP netip.Addr

	// Speed (docs/bep-speed.md section 10). Bid is the client's current bid in
	// price units (base units per GiB); 0 sends none.
	Bid uint64
	// Top, when non-zero, asks for at most Top peers with the highest bids
	// instead of an ordinary peer list; MinBid omits peers bidding less.
	Top    int
	MinBid uint64
}

// Peer is one peer from an announce reply.
type Peer struct {
	Addr netip.AddrPort
	// ID is the peer id when the tracker sent one (dictionary peer lists);
	// zero otherwise.
	ID [20]byte
	// Bid is the peer's last bid as announced to the tracker, when the reply
	// carried bids (a Top request). It is a stale claim, never a price.
	Bid uint64
}

// AnnounceResponse is a tracker's answer to an announce.
type AnnounceResponse struct {
	Interval    time.Duration
	MinInterval time.Duration // 0 when the tracker sent none
	Peers       []Peer
	Complete    int // seeders
	Incomplete  int // leechers
	Warning     string
	// HasBids says whether the reply carried per-peer bids.
	HasBids bool
}

// ScrapeResult is one torrent's counts from a scrape.
type ScrapeResult struct {
	Complete   int // seeders
	Downloaded int // completed downloads ever
	Incomplete int // leechers
}

// ErrMalformed is wrapped by every decoding error: the tracker's reply (or,
// on the server side, a request) does not follow the protocol.
var ErrMalformed = errors.New("tracker: malformed message")

// FailureError is a tracker's refusal: the HTTP "failure reason" or a UDP
// error action.
type FailureError struct {
	Reason string
}

func (e *FailureError) Error() string { return "tracker: failure: " + e.Reason }
