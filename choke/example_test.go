package choke_test

import (
	"fmt"
	"time"

	"github.com/speedbt/btt/choke"
)

// A seed with two regular slots and one optimistic slot runs the Speed auction: three
// bidders and a legacy peer compete.
func ExampleRank() {
	cfg := choke.DefaultConfig()
	cfg.RegularSlots, cfg.Seed, cfg.Auction, cfg.Reserve = 2, true, true, 10
	peers := []choke.Peer{
		{Key: 1, Interested: true, Choked: true, Speed: true, Bid: 50, Waiting: time.Minute, Connected: time.Hour},
		{Key: 2, Interested: true, Choked: true, Speed: true, Bid: 30, Waiting: time.Minute, Connected: time.Hour},
		{Key: 3, Interested: true, Choked: true, Speed: true, Bid: 20, Waiting: time.Minute, Connected: time.Hour},
		{Key: 4, Interested: true, Choked: true, Waiting: 5 * time.Minute, Connected: time.Hour}, // legacy
	}
	var st choke.State // the torrent loop keeps this between rechokes
	res := choke.Rank(peers, cfg, &st, time.Now())
	for _, s := range res.Unchoked {
		fmt.Printf("peer %d: %v, price %d\n", s.Key, s.Kind, s.Price)
	}
	// Output:
	// peer 1: auction, price 20
	// peer 2: auction, price 20
	// peer 4: optimistic, price 0
}
