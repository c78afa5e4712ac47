// Package peer runs BitTorrent: a Session owns a listener, a dialer and the torrents it
// serves; each torrent is owned by one goroutine (its loop) that holds all of the torrent's
// mutable state (peers, piece picker, choker, the addresses it may dial) and is driven by
// events from per-connection reader and writer goroutines, from its disk workers and from
// timers.
//
// The download path is: socket -> the connection's reader (a wire.Reader; a requested block
// goes straight into a pooled 16 KiB buffer, an unrequested one is skipped on the stream) ->
// the loop (the picker accepts the block, or it is dropped; requests are topped up) -> one of
// the torrent's disk workers (writes and hashes the block: storeBlock) -> the loop (a
// verified piece is announced and paid for, a failed one re-queued and its senders blamed).
// The upload path is: the loop queues a piece message for a request it serves -> the
// connection's writer (batches small messages, waits for its turn in the session's send
// scheduler, and sends the block straight from the files, with sendfile on TCP: uploadBlock).
//
// Locks: the loop's state has none, as only the loop touches it. What other goroutines share
// is atomic or behind small locks, each held for one map, queue or Book operation and never
// across I/O or a loop's work: per connection, its set of requested blocks (the reader
// checks it) and its send queue; per session, which spans torrents, the torrent registry and
// bans (Session.mu), the send scheduler, the Speed payment Book (sessionPay.mu) and the
// spending budget (sessionSpend.mu). One lock is held across I/O, and never by a loop:
// sessionSpend.openMu, around a channel open on the ledger, so that opens read the balance
// one at a time.
//
// Files by concern: torrent.go (the public API and a torrent's state), loop.go (the loop;
// connections joining and leaving), messages.go (what peers send), requests.go (what we ask
// for), pieces.go (what a verified or failed piece does), dial.go (dialing), learn.go (the
// addresses we may dial, from every source), choking.go (the rechoke and the event fill),
// ban.go, conn.go (a connection's reader and writer), disk.go and store.go (storage); the
// rest is one file per extension or feature (speed.go, payee.go, pex.go, metadata.go, ...).
package peer
