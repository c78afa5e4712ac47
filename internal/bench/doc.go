// Package bench holds the measuring instruments behind `btt bench`: a loopback transfer
// between two of our processes (and, beside it, between two libtorrent sessions) that
// reports MB/s, CPU seconds per GiB and peak RSS of each side; and a connection tester that
// runs many lightweight downloaders against one seeder, reporting aggregate and per-peer
// rates, request latency, fairness, and the seeder's CPU and memory when it runs here.
//
// The lightweight downloader speaks just enough of the peer wire (package wire) to pull
// blocks: handshake, bitfield or have_all, interested, pipelined requests. It writes
// nothing to disk; with Verify it checks each piece's SHA-1 against the torrent. Every
// connection and every loop is bounded by a deadline, so a seeder that stalls ends a run
// with an error, never a hang.
//
// Figures from these instruments are only meaningful as ratios against a reference
// measured in the same run on the same machine (see docs/performance.md).
package bench
