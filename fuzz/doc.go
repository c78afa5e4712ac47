// Package fuzz holds the project's fuzz targets, one file per area, with their corpora in
// testdata/fuzz. Every decoder that reads bytes from a peer, a tracker, a DHT node, a ledger
// client or a file has a target here; each checks that decoding never panics and that what
// decodes re-encodes to something that decodes to the same value.
//
// Run one briefly with: go test ./fuzz -run '^$' -fuzz '^FuzzBencode$' -fuzztime 10s
package fuzz
