// Package tracker holds the byte-level codecs of the BitTorrent tracker
// protocols, for both sides: HTTP announce and scrape queries and their
// bencoded replies (BEP 3, BEP 23 compact and BEP 7 IPv6 peer lists, BEP 48),
// UDP tracker packets (BEP 15, with BEP 41 URL data), and Speed's tracker
// extensions (bid-announce and bid-scrape, docs/bep-speed.md section 10).
//
// The tracker client (package peer/tracker) and the tracker server (package
// peer/tracker/server, btt-tracker) both build on it, so they cannot disagree
// on the wire format and neither imports the other. It does no I/O: every
// decoder takes bytes and returns values or an error wrapping ErrMalformed.
package tracker
