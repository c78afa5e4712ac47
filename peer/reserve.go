package peer

import "time"

// reserveInForce is the reserve the auction applies at now: a raise applies only
// bidext.ReserveCommitment after the reserve_price that announced it, so a provider cannot
// raise its reserve after seeing the bids it applies to (docs/bep-speed.md, "Reserve
// commitment"). Before the first change the initial reserve applies.
func (t *torrent) reserveInForce(now time.Time) uint64 {
	if t.speed.committed.Empty() {
		return t.speed.reserve
	}
	return t.speed.committed.InForce(now)
}
