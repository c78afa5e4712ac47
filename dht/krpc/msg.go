package krpc

import (
	"net/netip"
	"strconv"
)

// Message types ("y").
const (
	TypeQuery    = "q"
	TypeResponse = "r"
	TypeError    = "e"
)

// Query methods ("q") of BEP 5.
const (
	MethodPing         = "ping"
	MethodFindNode     = "find_node"
	MethodGetPeers     = "get_peers"
	MethodAnnouncePeer = "announce_peer"
	// MethodSampleInfohashes is BEP 51's query for a sample of the info-hashes a node stores.
	MethodSampleInfohashes = "sample_infohashes"
)

// Error codes of BEP 5.
const (
	ErrGeneric       = 201 // generic error
	ErrServer        = 202 // server error
	ErrProtocol      = 203 // malformed packet, invalid arguments or bad token
	ErrMethodUnknown = 204 // method unknown
)

// Msg is one KRPC message: a query, a response or an error.
//
// Optional values are absent when they hold their zero value, with one exception that
// real clients rely on: a nil slice (Nodes, Nodes6, Values, Token) is absent while an
// empty non-nil slice is encoded as an empty string or list.
type Msg struct {
	T  []byte // transaction ID, chosen by the querier and echoed in the reply
	Y  string // TypeQuery, TypeResponse or TypeError
	Q  string // method of a query
	A  *Args  // arguments of a query
	R  *Return
	E  *Error
	V  []byte         // client version, e.g. "LT\x02\x08"
	IP netip.AddrPort // BEP 42: the receiver's address as the sender sees it
	RO bool           // BEP 43: the sender is read-only and must not be put in routing tables

	// Extra holds every top-level key this package does not model, as raw bencode.
	Extra map[string][]byte
}

// Args are the arguments of a query ("a").
type Args struct {
	ID          ID     // querying node
	Target      ID     // find_node (and get, sample_infohashes)
	InfoHash    ID     // get_peers, announce_peer
	Port        int    // announce_peer
	ImpliedPort bool   // announce_peer: use the UDP source port instead of Port
	Token       []byte // announce_peer: the token from an earlier get_peers reply
	Want        []string

	Extra map[string][]byte // keys this package does not model ("seed", "v", ...)
}

// Return is the body of a response ("r").
type Return struct {
	ID     ID
	Nodes  []NodeInfo // IPv4 nodes (BEP 5)
	Nodes6 []NodeInfo // IPv6 nodes (BEP 32)
	Token  []byte
	Values []netip.AddrPort

	Extra map[string][]byte // keys this package does not model ("p", "samples", ...)
}

// Error is the body of an error message ("e"): [code, message]. It is also a Go error.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string {
	return "krpc: remote error " + strconv.Itoa(e.Code) + ": " + e.Message
}
