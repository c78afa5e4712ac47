package peer

import (
	"sync"
	"time"
)

// A session that adds many torrents at once (btt-seeder with a folder of them) would
// announce every one of them to its tracker in the same second, and, each torrent then
// waiting exactly the interval the tracker gave, again in the same second every interval.
// The session therefore spaces regular announces at most announceRate a second, and each
// torrent's Announcer adds a random few percent to every interval (announceJitter), so the
// torrents drift further apart with each round. Events (completed, stopped) are not paced.
const (
	announceRate   = 200  // regular announces a second, session-wide: 1,000 torrents in 5 s
	announceJitter = 0.05 // the most an interval is lengthened by, as a fraction of it
)

// announcePacer hands out announce slots announceRate a second apart.
type announcePacer struct {
	mu   sync.Mutex
	next time.Time // the earliest free slot
}

// slot reserves the first free slot at or after now and returns it: now itself when the
// session has announced nothing in the last 1/announceRate seconds.
func (p *announcePacer) slot(now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := now
	if p.next.After(at) {
		at = p.next
	}
	p.next = at.Add(time.Second / announceRate)
	return at
}
