package tracker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// An Announcer announces one torrent to a BEP 12 tracker list and keeps the
// schedule. Tiers are tried in order; within a tier the URLs are shuffled once
// and tried in order, and one that answers moves to the front of its tier, so
// the next round starts with it. The first answer ends a round.
//
// The clock is the caller's: every method takes now, so a session loop (and a
// test) decides what time it is. An Announcer is not safe for concurrent use;
// it belongs to the torrent's loop.
type Announcer struct {
	Client *Client
	// PerTracker bounds one tracker's attempt in a round, so a dead UDP
	// tracker (whose BEP 15 retries span hours) does not stall the fallback.
	// Zero means 60 seconds.
	PerTracker time.Duration

	tiers   [][]string
	started map[string]bool // trackers that have seen our "started"

	last        time.Time // last answered announce
	next        time.Time
	minInterval time.Duration
	failures    int
	current     string
}

// NewAnnouncer returns an Announcer for tiers (the torrent's announce-list,
// or a single tier holding its announce URL). Empty tiers and URLs are
// dropped; the tiers are copied, and shuffled by rng (nil: a random source).
func NewAnnouncer(c *Client, tiers [][]string, rng *rand.Rand) *Announcer {
	if c == nil {
		c = new(Client)
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	a := &Announcer{Client: c, started: make(map[string]bool)}
	for _, tier := range tiers {
		var t []string
		for _, u := range tier {
			if u != "" {
				t = append(t, u)
			}
		}
		if len(t) == 0 {
			continue
		}
		rng.Shuffle(len(t), func(i, j int) { t[i], t[j] = t[j], t[i] })
		a.tiers = append(a.tiers, t)
	}
	return a
}

// Tiers returns the current order of the tracker list.
func (a *Announcer) Tiers() [][]string {
	out := make([][]string, len(a.tiers))
	for i, t := range a.tiers {
		out[i] = append([]string(nil), t...)
	}
	return out
}

// Next is when the next regular announce is due (zero before the first).
func (a *Announcer) Next() time.Time { return a.next }

// Current is the tracker that answered last ("" if none has).
func (a *Announcer) Current() string { return a.current }

// MayAnnounce reports whether an announce the caller wants before Next (more
// peers, say) respects the tracker's min interval (at least 5 minutes, or the
// interval if shorter). Events (completed,
// stopped) are sent whatever it says.
func (a *Announcer) MayAnnounce(now time.Time) bool {
	return a.last.IsZero() || !now.Before(a.last.Add(a.minInterval))
}

// ErrNoTrackers is returned by an Announcer with an empty tracker list.
var ErrNoTrackers = errors.New("tracker: no trackers")

// Announce runs one round at time now and returns the first answer and the
// URL that gave it. A tracker that has not yet seen "started" from us gets it
// in place of a regular announce. On success Next becomes now plus the
// tracker's interval (at least its min interval and 30 s); when every tracker
// fails, the round is retried after 15 s, doubling per failed round up to 30
// minutes, and the error joins every tracker's error.
func (a *Announcer) Announce(ctx context.Context, now time.Time, req wiretracker.AnnounceRequest) (wiretracker.AnnounceResponse, string, error) {
	if len(a.tiers) == 0 {
		return wiretracker.AnnounceResponse{}, "", ErrNoTrackers
	}
	per := a.PerTracker
	if per <= 0 {
		per = time.Minute
	}
	var errs []error
	for _, tier := range a.tiers {
		for i, u := range tier {
			if ctx.Err() != nil {
				return wiretracker.AnnounceResponse{}, "", ctx.Err()
			}
			r := req
			if r.Event == wiretracker.EventNone && !a.started[u] {
				r.Event = wiretracker.EventStarted
			}
			if r.Event == wiretracker.EventStopped && !a.started[u] {
				continue // it never heard of us
			}
			tctx, cancel := context.WithTimeout(ctx, per)
			resp, err := a.Client.Announce(tctx, u, r)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", u, err))
				continue
			}
			copy(tier[1:i+1], tier[:i])
			tier[0] = u
			a.started[u] = r.Event != wiretracker.EventStopped
			a.success(now, u, resp)
			return resp, u, nil
		}
	}
	a.failures++
	a.next = now.Add(min(15*time.Second<<min(a.failures-1, 7), 30*time.Minute))
	if len(errs) == 0 {
		return wiretracker.AnnounceResponse{}, "", ErrNoTrackers
	}
	return wiretracker.AnnounceResponse{}, "", errors.Join(errs...)
}

func (a *Announcer) success(now time.Time, u string, resp wiretracker.AnnounceResponse) {
	a.failures = 0
	a.current = u
	a.last = now
	// UDP replies carry no min interval; like libtorrent, never re-announce
	// unprompted more often than every 5 minutes (or the interval, if shorter).
	a.minInterval = max(resp.MinInterval, min(resp.Interval, 5*time.Minute))
	iv := max(resp.Interval, resp.MinInterval, 30*time.Second)
	a.next = now.Add(iv)
}
