// Package storage keeps a torrent's data in its files on disk: it maps (piece, offset)
// to file positions, reads and writes with positional I/O (never a shared file offset),
// hashes pieces as their blocks arrive, sends blocks to sockets with sendfile(2) where the
// OS allows, rechecks existing data in parallel and saves resume data so a restart can
// skip the recheck.
//
// It knows nothing of peers or metainfo: the caller describes the torrent with a Spec
// (files, piece length, piece hashes). Every method of Torrent is safe for concurrent use
// by the torrent loop and the connections' reader and writer goroutines.
package storage
