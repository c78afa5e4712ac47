package dht

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

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

// WriteStateFile saves s to path atomically (a temporary file renamed over it), so a
// crash never leaves a torn state file.
func WriteStateFile(path string, s State) error {
	b, err := s.MarshalBinary()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("dht: state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("dht: state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("dht: state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("dht: state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("dht: state: %w", err)
	}
	return nil
}

// ReadStateFile loads a state saved by WriteStateFile. A missing file is reported as
// an error wrapping fs.ErrNotExist, which callers treat as a first start.
func ReadStateFile(path string) (*State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dht: state: %w", err)
	}
	defer f.Close()
	// A full table is about 1280 nodes of 38 bytes; anything much larger is not ours.
	b, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("dht: state: %w", err)
	}
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("dht: state: %s larger than 1 MiB", path)
	}
	var s State
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return &s, nil
}
