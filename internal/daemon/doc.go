// Package daemon is the long-running host of many torrents behind `btt daemon`: one
// peer.Session, the torrents it runs or holds stopped, their resume data and the user's
// settings, all kept in a state directory so that a restart (or a kill) picks up where it
// left off, and seeding limits that stop a torrent once it has given enough.
//
// Layout of the state directory:
//
//	state.json             settings, torrents (id, source, folder, counters, limits), totals
//	torrents/<hash>.torrent the metainfo of each torrent added from a file or base64
//	resume/<hash>.resume    verified pieces (written when a torrent stops or the daemon exits)
//	resume/<hash>.info      the info dictionary of a torrent added by magnet, once fetched
//
// Threading: Daemon.mu guards the torrent table and every entry's fields; it is never held
// across I/O on a torrent (adding, rechecking, closing), only across writing state.json
// (one file, fsync'd on every change), so that what is saved is one consistent snapshot. Those run in goroutines serialised
// per torrent by entry.ops, and an entry's generation number tells a start that finished
// late whether it is still wanted. The RPC (internal/transmission) calls Daemon's methods
// from its HTTP handlers, concurrently.
package daemon
