package bidext

// BidRadicallyLower reports whether a peer's real bid is radically lower than the bid a
// tracker listed for it: below half of the claim. Tracker bids are up to an announce
// interval old, so an honest bid may have drifted (auto-bids move as downloads progress
// and balances are spent), but not by half; a peer that lured us with a bid it does not
// make is disconnected.
func BidRadicallyLower(claimed, real uint64) bool {
	return real < claimed/2+claimed%2
}
