// Package dht is a node of the BitTorrent mainline DHT (BEP 5): it answers ping,
// find_node, get_peers and announce_peer, keeps a Kademlia routing table of k-buckets,
// runs iterative lookups to find peers for an info-hash and to announce itself, and
// stores the peers others announce.
//
// It also implements BEP 42 (node IDs derived from the external IP), BEP 43 (read-only
// nodes) and the defences a public node needs: per-address rate limits, bounded
// transaction and peer tables, responses never much larger than their query,
// unguessable transaction IDs, and dropping nodes that lie or flood.
//
// The core does no I/O and reads no clock of its own: packets come in through
// HandlePacket and go out through Config.Send, and time comes from Config.Clock. The same
// Node therefore runs on a UDP socket (Serve), on a socket shared with uTP, and in the
// deterministic simulator of package dht/sim.
package dht
