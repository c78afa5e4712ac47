package peer

import (
	"net/netip"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/storage"
)

// Smart ban. A failed piece says only that some block was bad, not whose: striking every
// contributor bans the honest seeds that shared pieces with a liar. So the loop remembers,
// per failed attempt, which address sent each block; once the piece verifies, storage
// compares each attempt's blocks with the good data (BadBlocks) and only the senders of the
// blocks that differed get a strike. An attempt that came wholly from one address is struck
// at once: nothing else could have spoiled it, and that address may be the only source,
// in which case the piece would never verify to prove it. Bans are by address, so that a
// reconnect does not clear the record. Everything here belongs to the torrent loop.
//
// Bound: t.failedBy holds at most storage.MaxFailedAttempts attempts per piece not yet
// verified, each one address per block: NumPieces × 8 × blocks-per-piece addresses at
// worst, dropped when the piece verifies.

// failedAttempt is who sent each block of a piece whose hash failed: by[j] sent block j
// (the zero Addr if nobody did or its connection was already gone). struck means the
// attempt came wholly from one address, struck when it failed.
type failedAttempt struct {
	by     []netip.Addr
	struck bool
}

// blameFailure remembers who sent the blocks of failed piece i (by, from Picker.Failed)
// and strikes the sender of a piece that came wholly from one address.
func (t *torrent) blameFailure(i int, by []piece.PeerKey) {
	att := failedAttempt{by: make([]netip.Addr, len(by))}
	for j, k := range by {
		if c := t.conns[k]; k != piece.NoPeer && c != nil {
			att.by[j] = c.addr.Addr().Unmap()
		}
	}
	if a, ok := soleSender(att.by); ok {
		att.struck = true
		t.strike(a, "sent a corrupt piece alone")
	}
	if t.failedBy == nil {
		t.failedBy = make(map[int][]failedAttempt)
	}
	// The same bound as storage's, newest last, so the two lists line up from the end.
	a := t.failedBy[i]
	if len(a) >= storage.MaxFailedAttempts {
		a = a[1:]
	}
	t.failedBy[i] = append(a, att)
}

// blameVerified strikes the senders of the blocks that differed from piece i's good data in
// its failed attempts. It reads the piece back on the loop; that happens only for pieces
// that failed before, which are rare.
func (t *torrent) blameVerified(i int) {
	atts, ok := t.failedBy[i]
	if !ok {
		return
	}
	delete(t.failedBy, i)
	bad, err := t.store.BadBlocks(i)
	if err != nil {
		t.s.log.Warn("smart ban: cannot compare failed attempts", "piece", i, "err", err)
		return
	}
	for _, a := range culprits(atts, bad) {
		t.strike(a, "sent corrupt blocks")
	}
}

// culprits returns, once each, the addresses that sent a block listed bad: bad[x] are the
// bad block indices of a failed attempt, as storage.Torrent.BadBlocks returns them; atts
// the same attempts as the loop saw them. The two line up from the end (both keep the
// newest storage.MaxFailedAttempts). Attempts already struck as a whole are skipped, so a
// piece costs an address one strike at most.
func culprits(atts []failedAttempt, bad [][]int) []netip.Addr {
	n := min(len(atts), len(bad))
	atts, bad = atts[len(atts)-n:], bad[len(bad)-n:]
	var out []netip.Addr
	for x, att := range atts {
		if att.struck {
			continue
		}
		for _, j := range bad[x] {
			if j < 0 || j >= len(att.by) {
				continue
			}
			a := att.by[j]
			if a.IsValid() && !containsAddr(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// soleSender reports the address that sent every block, if one did.
func soleSender(by []netip.Addr) (netip.Addr, bool) {
	if len(by) == 0 || !by[0].IsValid() {
		return netip.Addr{}, false
	}
	for _, a := range by[1:] {
		if a != by[0] {
			return netip.Addr{}, false
		}
	}
	return by[0], true
}

func containsAddr(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

// strike gives address a one strike for corrupt data and bans it at the limit
// (Settings.HashFailBan), closing its connections.
func (t *torrent) strike(a netip.Addr, why string) {
	if t.s.banned(a) {
		return // pieces it spoiled before the ban keep verifying; one ban is enough
	}
	if !t.blame.Strike(a) {
		t.s.log.Info("strike for corrupt data", "addr", a, "why", why, "strikes", t.blame.Strikes(a))
		return
	}
	t.blame.Forget(a)
	t.banAndClose(a, why)
}
