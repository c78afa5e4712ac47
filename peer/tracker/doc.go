// Package tracker is a BitTorrent tracker client: HTTP announces (BEP 3) with
// compact IPv4 and IPv6 peer lists (BEP 23, BEP 7), UDP announces and scrapes
// (BEP 15, with BEP 41 URL data), multitracker tiers (BEP 12), and Speed's
// tracker extensions (bid-announce and bid-scrape, docs/bep-speed.md section 10).
//
// It does the talking (sockets, retransmission, connection ids, tiers); the
// bytes on the wire and the request and reply types come from package
// wire/tracker, which the tracker server shares.
package tracker
