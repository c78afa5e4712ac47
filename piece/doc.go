// Package piece decides what to download next: which piece to start and which 16 KiB
// blocks to request from which peer. It also holds the BEP 3 have-bitfield and the
// per-peer request queue depth rule.
//
// Everything here is pure bookkeeping with no I/O and no locks: a Picker is owned by the
// one goroutine that runs a torrent (the torrent loop) and is fed the events that loop
// sees (a peer's bitfield and haves, blocks arriving, chokes, hash results).
package piece
