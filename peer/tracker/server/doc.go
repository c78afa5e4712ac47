// Package server is the core of btt-tracker: an in-memory BitTorrent tracker
// (BEP 3 HTTP, BEP 15 UDP, BEP 23 compact and dictionary peer lists, scrape)
// with Speed's bid-announce and bid-scrape (docs/bep-speed.md section 10).
//
// Tracker is the pure part: it takes already-decoded requests and the current
// time and returns answers, so its rules are table-tested without sockets.
// Its memory is bounded in total (torrents, peers) and per torrent, and peers
// expire after one and a half announce intervals. HTTPHandler and ServeUDP put
// it on the network; UDP connection ids come from a keyed hash of the client's
// address and the minute, so they need no per-client state.
package server
