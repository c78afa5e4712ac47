// Package wire encodes and decodes the BitTorrent peer-wire protocol byte for byte:
// the 68-byte handshake and its reserved bits (BEP 3, 5, 6, 10), the length-prefixed
// messages of BEP 3 and BEP 6, the BEP 6 allowed-fast set, and the bencoded payloads
// carried in extended messages: the BEP 10 extended handshake, BEP 9 ut_metadata and
// BEP 11 ut_pex.
//
// The package does no I/O policy of its own: it reads and writes whole messages,
// checks every length before it allocates, and reports malformed input with typed
// errors (see MessageError) that a session can branch on to disconnect or ban a peer.
// Reading the messages that dominate a transfer (request, piece, have, cancel)
// allocates nothing once a Reader has warmed up.
package wire
