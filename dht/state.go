package dht

import (
	"fmt"

	"github.com/speedbt/btt/dht/krpc"
	"github.com/speedbt/btt/wire/bencode"
)

// State is what a node keeps across restarts: its ID and its routing table.
type State struct {
	ID    ID
	Nodes []NodeInfo
}

// maxStateNodes bounds how many nodes a state file may hold (a full table at every
// depth is 160 buckets of 8).
const maxStateNodes = 160 * 8

type stateFile struct {
	ID     []byte `bencode:"id"`
	Nodes  []byte `bencode:"nodes"`
	Nodes6 []byte `bencode:"nodes6"`
}

// State returns the node's ID and the nodes of its routing table.
func (n *Node) State() State {
	return State{ID: n.id, Nodes: n.Nodes()}
}

// MarshalBinary encodes s as a bencoded dictionary with compact node lists.
func (s State) MarshalBinary() ([]byte, error) {
	nodes := s.Nodes
	if len(nodes) > maxStateNodes {
		nodes = nodes[:maxStateNodes]
	}
	return bencode.Marshal(stateFile{
		ID:     s.ID[:],
		Nodes:  krpc.AppendCompactNodes([]byte{}, nodes, false),
		Nodes6: krpc.AppendCompactNodes([]byte{}, nodes, true),
	})
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (s *State) UnmarshalBinary(b []byte) error {
	var f stateFile
	if err := bencode.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("dht: state: %w", err)
	}
	if len(f.ID) != krpc.IDLen {
		return fmt.Errorf("dht: state: id of %d bytes", len(f.ID))
	}
	if len(f.Nodes)/krpc.CompactNode4Len+len(f.Nodes6)/krpc.CompactNode6Len > maxStateNodes {
		return fmt.Errorf("dht: state: more than %d nodes", maxStateNodes)
	}
	n4, err := krpc.ParseCompactNodes(f.Nodes, false)
	if err != nil {
		return fmt.Errorf("dht: state: %w", err)
	}
	n6, err := krpc.ParseCompactNodes(f.Nodes6, true)
	if err != nil {
		return fmt.Errorf("dht: state: %w", err)
	}
	s.ID = ID(f.ID)
	s.Nodes = append(n4, n6...)
	return nil
}
