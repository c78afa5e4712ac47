// Package peer runs BitTorrent: a Session owns a listener, a dialer and the torrents it
// serves; each torrent is owned by one goroutine (its loop) that holds all of the torrent's
// mutable state (peers, piece picker, choker) and is driven by events from per-connection
// reader and writer goroutines and by timers. No lock is shared between torrents, and none is
// held across I/O.
//
// The data path is: socket -> wire.Reader (in the connection's reader goroutine, which also
// writes received blocks to storage and hashes them, off the loop) -> the torrent loop (which
// picks what to request next and decides who is unchoked) -> the connection's writer goroutine
// (which batches messages and sends piece payloads straight from the files).
package peer
