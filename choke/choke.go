// Package choke decides, at each rechoke of a torrent, which peers are unchoked, which of
// them hold the optimistic slots, and what the Speed auction winners pay.
//
// It is a pure core: no I/O, no goroutines, no clock (the caller passes the time). The
// rechoke has two triggers, kept apart as in libtorrent and rain. Every rechoke interval
// (10 s) the torrent loop gathers each peer's state, calls Rank, and applies the difference
// between the Result and what it currently does (choke, bid-response, unchoke); the
// optimistic slots rotate inside Rank when Config.OptimisticInterval (30 s) has passed, not
// on every call. Between rechokes, events (a peer becomes interested, a slot frees, a first
// bid) call Fill, which gives free slots to choked peers without re-ranking, choking,
// re-pricing or rotating anyone (libtorrent's preemptive unchoke, rain's fast unchoke).
//
// Regular slots go first to eligible Speed bidders (bid >= reserve), highest bid first,
// then to the other interested peers by the classic rate rule: as a leecher, the peers we
// download fastest from (tit-for-tat); as a seed, the peers we upload fastest to, then
// those that waited longest. Auction winners pay a uniform price, the highest losing
// eligible bid or the reserve if that is higher, which for unit-demand bidders is the
// VCG payment and makes truthful bidding a dominant strategy. A leecher first keeps
// Config.ReciprocationSlots regular slots for the peers it downloads fastest from.
// Optimistic slots are never
// auctioned: they rotate round-robin over the choked interested peers by longest wait,
// newly connected peers counting three times, and a bid only breaks exact ties.
package choke

import (
	"math"
	"time"
)

// Kind says why a peer holds an unchoke slot.
type Kind uint8

const (
	// Auction: a regular slot won with a bid; the peer pays Slot.Price.
	Auction Kind = iota + 1
	// Rate: a regular slot given by the classic rate rule; free.
	Rate
	// Optimistic: the rotating optimistic slot; free.
	Optimistic
)

func (k Kind) String() string {
	switch k {
	case Auction:
		return "auction"
	case Rate:
		return "rate"
	case Optimistic:
		return "optimistic"
	}
	return "Kind(?)"
}

// Peer is what the rechoke needs to know about one connection of the torrent.
type Peer struct {
	// Key identifies the connection; the loop picks it (a connection serial number).
	// It is also the last tie-break, so results are deterministic.
	Key uint64

	// Interested: the peer wants something we have. Only interested peers get slots.
	Interested bool
	// Barred: the peer is refused every slot, free ones included, whatever it bids and
	// however interested it is (a Speed requester that missed a payment and still owes).
	Barred bool
	// Choked: we are choking the peer now.
	Choked bool
	// Snubbed: as a leecher, the peer sent us nothing for a while although we asked.
	// Snubbed peers get no tit-for-tat slot (they may still win the auction or the
	// optimistic slot), as in mainline.
	Snubbed bool

	// DownloadRate and UploadRate are bytes per second from and to the peer, as the
	// loop measures them (any consistent unit works: only the order matters).
	DownloadRate int64
	UploadRate   int64

	// Speed: the peer advertised the Speed extension. Bid is its current bid in
	// bidext price units (base units per GiB); 0 means no bid. Bids of peers without
	// Speed are ignored.
	Speed bool
	Bid   uint64

	// Paying and Price are the terms the peer is unchoked under now: Paying is true when
	// the last bid-response sent since its last unchoke still applies, at Price. Rank
	// compares them with the new terms to report repricing.
	Paying bool
	Price  uint64

	// Waiting is how long ago we last choked the peer, or how long it has been
	// connected if we never unchoked it. Connected is the age of the connection; a peer
	// younger than Config.NewPeerAge is new and its wait counts three times for the
	// optimistic slot, so newcomers get their first pieces quickly.
	Waiting   time.Duration
	Connected time.Duration
}

// Config is the torrent's choking configuration.
type Config struct {
	// RegularSlots is the number of regular (auction or tit-for-tat) unchoke slots.
	RegularSlots int
	// OptimisticSlots is the number of optimistic slots.
	OptimisticSlots int
	// Seed: we have the whole torrent, so rank by upload rate instead of download rate.
	Seed bool
	// Auction turns the Speed auction on for this torrent. When off, bids are ignored.
	Auction bool
	// Reserve is the torrent's reserve price: bids below it are not eligible, and no
	// winner pays less.
	Reserve uint64
	// ReciprocationSlots is how many regular slots tit-for-tat keeps, when we are not a
	// seed and the auction is on, for the interested peers we download fastest from (a
	// nonzero rate, not snubbed), before the auction fills the rest. A leecher that sells
	// must still trade: without it, bidders could take every regular slot and the peers
	// uploading to us would lose their reciprocation. The pick ignores bids, so the
	// auction over the remaining slots stays truthful.
	ReciprocationSlots int
	// OptimisticInterval is how long the optimistic slots are kept before Rank re-picks
	// them (mainline's 30 s). It is time, not a count of Rank calls, so however often the
	// loop rechokes the rotation keeps its pace; 0 rotates on every Rank.
	OptimisticInterval time.Duration
	// NewPeerAge is how long a connection counts as new for the optimistic rotation.
	NewPeerAge time.Duration
}

// DefaultConfig is the mainline layout: 4 unchoke slots of which one is optimistic,
// rotated every 30 s; connections younger than 90 s (three rotations) count as new.
func DefaultConfig() Config {
	return Config{
		RegularSlots:       3,
		OptimisticSlots:    1,
		OptimisticInterval: 30 * time.Second,
		NewPeerAge:         90 * time.Second,
	}
}

// Slots is the number of unchoke slots of every kind: the most peers unchoked at once.
func (c Config) Slots() int {
	reg, opt := max(c.RegularSlots, 0), max(c.OptimisticSlots, 0)
	if reg+opt < 0 { // overflow of absurd configs
		return math.MaxInt
	}
	return reg + opt
}

// Slot is one unchoked peer in a Result.
type Slot struct {
	Key  uint64
	Kind Kind
	// Price is what an Auction winner pays, in bidext price units; 0 for other kinds.
	Price uint64
	// Changed marks a peer that is unchoked now and stays unchoked but under different
	// terms (it starts or stops paying, or its price moved). The loop must choke it,
	// reject its pending requests, send the new bid-response (Auction only) and unchoke
	// it again, so that no block is ever served under ambiguous terms.
	Changed bool
}

// Result is the outcome of one rechoke: the unchoked peers in rank order (auction
// winners, then rate slots, then optimistic slots). Every peer not listed is choked.
type Result struct {
	Unchoked []Slot
	// Rotated reports that the optimistic slots were re-picked this round.
	Rotated bool
	// ClearingPrice is the uniform price the auction winners pay (0 if none won).
	ClearingPrice uint64
}

// Find returns the slot of the peer with key k, if it is unchoked.
func (r Result) Find(k uint64) (Slot, bool) {
	for _, s := range r.Unchoked {
		if s.Key == k {
			return s, true
		}
	}
	return Slot{}, false
}

// State is what Rank and Fill carry from one call to the next: when the optimistic slots
// rotate next, the current optimistic peers and scratch space. The zero value is ready
// (its first Rank rotates); the torrent loop keeps one per torrent and passes it to every
// call.
type State struct {
	rotateAt   time.Time // the first Rank at or after this time re-picks the optimistic slots
	optimistic []uint64
	scratch    []int
}

// Optimistic returns the keys holding optimistic slots after the last Rank.
func (s *State) Optimistic() []uint64 { return s.optimistic }
