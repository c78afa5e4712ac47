// Package utp implements the Micro Transport Protocol (BEP 29): reliable, ordered byte
// streams over UDP whose congestion control (LEDBAT, RFC 6817) backs off as soon as it
// sees queueing delay, so BitTorrent traffic yields to other traffic on the same link.
//
// A Socket owns one UDP socket and serves every uTP connection on it, dialled or
// accepted. Packets that are not uTP (for example DHT KRPC messages, which are bencoded
// dictionaries starting with 'd') are handed to Config.Unhandled, and Socket.WriteTo
// sends on the same port, so the DHT and uTP can share a session's port.
//
// Goroutines are bounded: one reader per Socket and one timer per connection; no
// goroutine is started per packet.
package utp
