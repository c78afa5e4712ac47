package tracker_test

import (
	"context"
	"fmt"
	"time"

	"github.com/speedbt/btt/peer/tracker"
	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// A Speed client announces its bid and asks the tracker for the three
// highest bidders bidding at least 1 BTT/GiB.
func ExampleClient_Announce() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := new(tracker.Client) // keep one per session: it caches UDP connection ids
	req := wiretracker.AnnounceRequest{
		InfoHash: [20]byte{0x12, 0x34},
		Port:     6881,
		Left:     1 << 20,
		Event:    wiretracker.EventStarted,
		Bid:      2_500_000, // 2.5 BTT per GiB
		Top:      3,
		MinBid:   1_000_000,
	}
	copy(req.PeerID[:], "-BT0001-000000000001")
	resp, err := c.Announce(ctx, "udp://tracker.example:6969/announce", req)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range resp.Peers {
		// Bids from a tracker are stale claims: connect to these first, but
		// price only on the bid the peer sends on the connection.
		fmt.Println(p.Addr, p.Bid, resp.HasBids)
	}
}

// An Announcer keeps one torrent's BEP 12 tracker list and its schedule; the
// torrent's loop calls it when Next comes due.
func ExampleAnnouncer() {
	a := tracker.NewAnnouncer(new(tracker.Client), [][]string{
		{"udp://a.example:6969/announce", "http://b.example/announce"}, // tier 1, shuffled
		{"http://backup.example/announce"},                             // tier 2, fallback
	}, nil)
	ctx := context.Background()
	req := wiretracker.AnnounceRequest{InfoHash: [20]byte{1}, Port: 6881, Left: 1}
	if time.Now().After(a.Next()) {
		resp, url, err := a.Announce(ctx, time.Now(), req)
		fmt.Println(len(resp.Peers), url, err, a.Next())
	}
}
