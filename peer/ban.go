package peer

import (
	"errors"
	"fmt"
	"net/netip"
)

// errBanned is what the connections of a banned address are closed with (wrapped with why).
var errBanned = errors.New("peer: banned")

// banAndClose bans address a for why (Settings.BanDuration), counts it in Stats.Banned and
// closes this torrent's connections from it; other torrents refuse it on its next
// connection. Every ban of the torrent goes through it: corrupt data (smartban.go) and
// unpaid pieces (payee.go).
func (t *torrent) banAndClose(a netip.Addr, why string) {
	a = a.Unmap()
	t.s.ban(a, why)
	t.stats.banned.Add(1)
	err := fmt.Errorf("%w: %s", errBanned, why)
	for _, c := range t.conns {
		if c.addr.Addr().Unmap() == a {
			c.close(err)
		}
	}
}
