// Package bidext holds the pure cores of the Speed extension that are not the auction
// itself: the price unit and the amount owed for data, the auto-bid formula and its
// re-bid limits, the requester's session budget (budget.go), the provider's accounting of
// its requesters with the exposure bound, deadlines, strikes and shared channel states
// (book.go; rules in docs/speed-payments.md), the reserve-price curve, the
// proof-of-possession challenge and source proof, the check of tracker-claimed bids, and
// the user's settings.
//
// Nothing here does I/O or keeps time: clocks, randomness and chunk data are passed in,
// so the torrent loop drives it and tests pin it down exactly. The wire format of the
// messages these values travel in is in package wire (speed.go) and docs/bep-speed.md.
package bidext
