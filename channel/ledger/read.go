package ledger

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/speedbt/btt/channel"
)

// Reader answers reads from committed state. Reads never go through the writer's queue: a
// writer process answers them from its committed view (Ledger.Reader), a standby process
// from the database (pgstore). Either way nothing a read sees can still be lost.
type Reader interface {
	// Account returns an account's state; exists is false for an address that never held
	// tokens.
	Account(ctx context.Context, a channel.Address) (st AccountState, exists bool, err error)
	// Channel returns a channel; found is false for an unknown id.
	Channel(ctx context.Context, id channel.ChannelID) (ch Channel, found bool, err error)
	// Channels returns at most limit channels where a is payer or payee, ordered by
	// (OpenedAt, ID), starting after the cursor (the zero cursor starts at the beginning).
	Channels(ctx context.Context, a channel.Address, after Cursor, limit int) ([]Channel, error)
	// Summary describes the whole ledger.
	Summary(ctx context.Context) (Summary, error)
}

// Summary is what GET /v1/info reports about the state (the rest is configuration).
type Summary struct {
	Meta         Meta
	Total        uint64 // balances plus open channel deposits: the genesis supply
	Accounts     int
	OpenChannels int
}

// Cursor is a position in a channel listing: the last channel of the previous page.
type Cursor struct {
	OpenedAt int64
	ID       channel.ChannelID
}

// String encodes the cursor for the "after" query parameter: opened_at "-" id.
func (c Cursor) String() string { return strconv.FormatInt(c.OpenedAt, 10) + "-" + c.ID.String() }

// ParseCursor reads Cursor.String's form.
func ParseCursor(s string) (Cursor, error) {
	at, id, ok := strings.Cut(s, "-")
	if !ok {
		return Cursor{}, fmt.Errorf("ledger: cursor %q: want OPENED-ID", s)
	}
	n, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return Cursor{}, fmt.Errorf("ledger: cursor %q: %w", s, err)
	}
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != len(channel.ChannelID{}) {
		return Cursor{}, fmt.Errorf("ledger: cursor %q: bad channel id", s)
	}
	return Cursor{OpenedAt: n, ID: channel.ChannelID(b)}, nil
}

func (c Cursor) compare(ch *Channel) int {
	if x := cmp.Compare(c.OpenedAt, ch.OpenedAt); x != 0 {
		return x
	}
	return bytes.Compare(c.ID[:], ch.ID[:])
}

// view is the writer process's committed state for readers: the writer applies each
// batch's changes to it after the store committed them, under a write lock held for
// O(changes); readers take the read lock for O(1) lookups or one page of a listing. It
// keeps its own copies (about the core's memory again) so that the core can run ahead of
// the store inside a batch without readers seeing it.
type view struct {
	mu       sync.RWMutex
	meta     Meta
	accounts map[channel.Address]AccountState
	channels map[channel.ChannelID]*Channel
	byAddr   map[channel.Address][]*Channel // ordered by (OpenedAt, ID)
	total    uint64                         // maintained per change; modular arithmetic, exact at rest
	open     int
	archive  channelArchive // the store, for channels that left memory; may be nil
	bridge   viewBridge
}

// channelArchive is a store that reads one channel by id (both stores do): reads of a
// channel archived out of memory (window.go) go there.
type channelArchive interface {
	Channel(ctx context.Context, id channel.ChannelID) (Channel, bool, error)
}

func newView(d *Data, store Store) *view {
	a, _ := store.(channelArchive)
	v := &view{archive: a, accounts: make(map[channel.Address]AccountState, len(d.Accounts)),
		channels: make(map[channel.ChannelID]*Channel, len(d.Channels)), byAddr: map[channel.Address][]*Channel{},
		bridge: newViewBridge()}
	v.apply(d)
	return v
}

// apply folds committed changes into the view.
func (v *view) apply(d *Data) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if d.Meta != nil {
		v.meta = *d.Meta
	}
	v.bridge.apply(d)
	for a, st := range d.Accounts {
		v.total -= v.accounts[a].Balance
		v.total += st.Balance
		v.accounts[a] = st
	}
	for i := range d.Channels {
		c := d.Channels[i]
		old := v.channels[c.ID]
		if old == nil {
			old = &Channel{}
			*old = c
			v.channels[c.ID] = old
			v.insert(c.PayerAddress, old)
			if c.PayeeAddress != c.PayerAddress {
				v.insert(c.PayeeAddress, old)
			}
		} else {
			if old.Status == StatusOpen {
				v.total -= uint64(old.Amount)
				v.open--
			}
			*old = c
		}
		if c.Status == StatusOpen {
			v.total += uint64(c.Amount)
			v.open++
		}
	}
	if len(d.Archived) > 0 {
		gone := map[channel.Address]bool{}
		for _, id := range d.Archived {
			if c := v.channels[id]; c != nil && c.Status != StatusOpen {
				delete(v.channels, id)
				gone[c.PayerAddress], gone[c.PayeeAddress] = true, true
			}
		}
		for a := range gone {
			l := slices.DeleteFunc(v.byAddr[a], func(c *Channel) bool { return v.channels[c.ID] != c })
			if len(l) == 0 {
				delete(v.byAddr, a)
			} else {
				v.byAddr[a] = l
			}
		}
	}
}

func (v *view) insert(a channel.Address, c *Channel) {
	l := v.byAddr[a]
	// Channels open at the writer's clock, so a new one almost always goes last.
	i := len(l)
	for i > 0 && (Cursor{OpenedAt: c.OpenedAt, ID: c.ID}).compare(l[i-1]) < 0 {
		i--
	}
	v.byAddr[a] = slices.Insert(l, i, c)
}

func (v *view) Account(_ context.Context, a channel.Address) (AccountState, bool, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	st, ok := v.accounts[a]
	return st, ok, nil
}

func (v *view) Channel(ctx context.Context, id channel.ChannelID) (Channel, bool, error) {
	v.mu.RLock()
	c := v.channels[id]
	var ch Channel
	if c != nil {
		ch = *c
	}
	v.mu.RUnlock()
	if c == nil && v.archive != nil {
		return v.archive.Channel(ctx, id)
	}
	return ch, c != nil, nil
}

func (v *view) Channels(_ context.Context, a channel.Address, after Cursor, limit int) ([]Channel, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	l := v.byAddr[a]
	i, _ := slices.BinarySearchFunc(l, after, func(c *Channel, k Cursor) int { return -k.compare(c) })
	if i < len(l) && after.compare(l[i]) == 0 {
		i++
	}
	out := make([]Channel, 0, min(limit, len(l)-i))
	for ; i < len(l) && len(out) < limit; i++ {
		out = append(out, *l[i])
	}
	return out, nil
}

func (v *view) Summary(context.Context) (Summary, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return Summary{Meta: v.meta, Total: v.total, Accounts: len(v.accounts), OpenChannels: v.open}, nil
}
