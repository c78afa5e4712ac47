// Package mse implements Message Stream Encryption (MSE, also called Protocol Encryption or
// PE): the obfuscation handshake that Vuze, libtorrent, Transmission and aria2 put in front of
// the BitTorrent handshake. Both sides exchange 768-bit Diffie-Hellman keys, prove knowledge of
// the torrent's info-hash (SKEY) without sending it, and agree on a payload stream that is
// either plaintext or RC4 keyed from the shared secret, with the first 1024 bytes of keystream
// discarded.
//
// The handshake itself is a pure state machine (Initiator, Responder): bytes go in with Recv,
// bytes to send come out of Step, and nothing touches a clock or a socket, so the parsing is
// fuzzed and tested with tables. Handshake drives a machine over a net.Conn and returns a
// net.Conn for the payload stream. Every attempt is bounded in bytes (MaxHandshakeBytes); the
// caller bounds it in time with the connection's deadline.
package mse
