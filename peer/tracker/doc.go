// Package tracker is a BitTorrent tracker client: HTTP announces (BEP 3) with
// compact IPv4 and IPv6 peer lists (BEP 23, BEP 7), UDP announces and scrapes
// (BEP 15, with BEP 41 URL data), multitracker tiers (BEP 12), and Speed's
// tracker extensions (bid-announce and bid-scrape, docs/bep-speed.md section 10).
//
// It also holds the byte-level codecs of both sides of those protocols, so the
// tracker server (package server below) and this client cannot disagree on the
// wire format.
package tracker
