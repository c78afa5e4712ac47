package fuzz

import (
	"testing"
	"time"

	"github.com/speedbt/btt/choke"
)

// chokeInput turns fuzz bytes into a configuration and a peer set: 4 bytes of config,
// then 6 bytes per peer.
func chokeInput(data []byte) ([]choke.Peer, choke.Config) {
	if len(data) < 4 {
		return nil, choke.Config{}
	}
	cfg := choke.Config{
		RegularSlots:       int(data[0]%8) - 1, // -1 exercises the clamp
		OptimisticSlots:    int(data[1] % 4),
		Seed:               data[2]&1 != 0,
		Auction:            data[2]&2 != 0,
		OptimisticInterval: time.Duration(data[2]>>4) * 10 * time.Second,
		Reserve:            uint64(data[3]),
		NewPeerAge:         90 * time.Second,
	}
	var peers []choke.Peer
	for b := data[4:]; len(b) >= 6; b = b[6:] {
		f := b[1]
		peers = append(peers, choke.Peer{
			Key:          uint64(b[0] % 32), // repeats on purpose
			Interested:   f&1 != 0,
			Barred:       b[0]&0x80 != 0,
			Choked:       f&2 != 0,
			Snubbed:      f&4 != 0,
			Speed:        f&8 != 0,
			Paying:       f&16 != 0,
			DownloadRate: int64(b[2]),
			UploadRate:   int64(b[3]),
			Bid:          uint64(b[4]),
			Price:        uint64(b[4] / 2),
			Waiting:      time.Duration(b[5]) * time.Second,
			Connected:    time.Duration(f>>5) * 30 * time.Second,
		})
	}
	return peers, cfg
}

// FuzzChokeRank checks Rank's and Fill's invariants on arbitrary peer sets, over several
// rounds with one State: one slot per key, no more slots than configured, only interested
// peers that are not barred unchoked, auction winners eligible and all paying one price between the reserve and
// their bid, no snubbed leecher in a rate slot.
func FuzzChokeRank(f *testing.F) {
	f.Add([]byte{4, 1, 2, 10, 1, 9, 5, 0, 50, 10, 2, 9, 1, 0, 40, 20, 3, 1, 9, 0, 0, 30})
	f.Add([]byte{7, 3, 3, 0, 1, 255, 255, 255, 255, 255, 1, 255, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		peers, cfg := chokeInput(data)
		var st choke.State
		now := time.Unix(1e9, 0)
		for round := range 4 {
			now = now.Add(10 * time.Second)
			res := choke.Rank(peers, cfg, &st, now)
			if len(res.Unchoked) > max(cfg.RegularSlots, 0)+cfg.OptimisticSlots {
				t.Fatalf("round %d: %d slots for %+v", round, len(res.Unchoked), cfg)
			}
			seen := map[uint64]bool{}
			for _, s := range res.Unchoked {
				if seen[s.Key] {
					t.Fatalf("key %d holds two slots", s.Key)
				}
				seen[s.Key] = true
				ok := false
				for _, p := range peers {
					if p.Key != s.Key || !p.Interested || p.Barred {
						continue
					}
					switch s.Kind {
					case choke.Auction:
						ok = ok || (cfg.Auction && p.Speed && p.Bid != 0 && p.Bid >= cfg.Reserve && s.Price <= p.Bid)
					case choke.Rate:
						ok = ok || cfg.Seed || !p.Snubbed
					case choke.Optimistic:
						ok = true
					}
				}
				if !ok {
					t.Fatalf("slot %+v has no peer entitled to it", s)
				}
				if s.Kind == choke.Auction && (s.Price != res.ClearingPrice || s.Price < cfg.Reserve) {
					t.Fatalf("winner pays %d, clearing %d, reserve %d", s.Price, res.ClearingPrice, cfg.Reserve)
				}
				if s.Kind != choke.Auction && s.Price != 0 {
					t.Fatalf("free slot with a price: %+v", s)
				}
			}
			for _, k := range st.Optimistic() {
				if s, ok := res.Find(k); !ok || s.Kind != choke.Optimistic {
					t.Fatalf("state remembers optimistic %d, result says %+v", k, s)
				}
			}
			// Between rechokes, Fill only unchokes choked peers that want a slot, one each.
			filled := choke.Fill(peers, cfg, &st)
			if len(filled) > max(cfg.RegularSlots, 0)+cfg.OptimisticSlots {
				t.Fatalf("round %d: Fill gave %d slots for %+v", round, len(filled), cfg)
			}
			got := map[uint64]bool{}
			for _, s := range filled {
				if got[s.Key] {
					t.Fatalf("Fill gave key %d two slots", s.Key)
				}
				got[s.Key] = true
				for _, p := range peers {
					if p.Key == s.Key && (!p.Choked || !p.Interested || p.Barred) {
						t.Fatalf("Fill gave %+v to %+v", s, p)
					}
				}
			}
		}
	})
}
