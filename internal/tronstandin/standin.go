// Package tronstandin is a stand-in for a TRON full node, for tests. No chain is reachable
// from the machines the tests run on, so the bridge's tests run against this: an in-memory
// chain of blocks with TRC-10 balances behind the handful of HTTP endpoints the bridge uses
// (/wallet/getnowblock, getblockbynum, broadcasttransaction, gettransactioninfobyid,
// gettransactionbyid). Like java-tron it verifies every submitted transaction before taking
// it: raw_data_hex hashes to txID and matches raw_data, the one signature recovers to the
// owner, the reference block is on the chain (TaPoS), the expiration is after the head block
// and at most 24 hours ahead, the transaction is new, the asset exists and the owner holds
// the amount. Tests mine blocks, reorganise the chain, and can make the node lie.
package tronstandin

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/tron"
)

// BlockInterval is TRON's block time, in milliseconds: block n is stamped GenesisTime + 3 s x n.
const (
	BlockInterval = 3000
	GenesisTime   = 1_750_000_000_000
	maxExpiration = 24 * 3600 * 1000 // java-tron's MAXIMUM_TIME_UNTIL_EXPIRATION
)

type chainTx struct {
	st        tron.SignedTx
	raw       *tron.Raw
	j         tron.TxJSON
	unchecked bool // injected by a test as a lying node would report it: moves no balance
}

type block struct {
	num    int64
	id     [32]byte
	parent [32]byte
	ts     int64
	txs    []*chainTx
}

// Node is the stand-in. Its methods are safe for concurrent use.
type Node struct {
	mu       sync.Mutex
	genesis  map[channel.Address]int64
	balances map[channel.Address]int64
	chain    []*block
	pool     []*chainTx
	inPool   map[[32]byte]bool
	forks    int

	tamper     func(path string, body []byte) []byte
	broadcasts int
	refused    []string
}

// SetTamper makes the node rewrite every answer before it is sent (path, JSON body): a node
// that lies. nil restores the truth.
func (n *Node) SetTamper(f func(path string, body []byte) []byte) {
	n.mu.Lock()
	n.tamper = f
	n.mu.Unlock()
}

// Broadcasts counts the transactions accepted by submission (duplicates not).
func (n *Node) Broadcasts() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.broadcasts
}

// Refused lists the codes of refused broadcasts, in order.
func (n *Node) Refused() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.refused...)
}

// New returns a node whose genesis block gives each address its BTT balance.
func New(balances map[channel.Address]int64) *Node {
	n := &Node{genesis: map[channel.Address]int64{}, inPool: map[[32]byte]bool{}}
	for a, v := range balances {
		n.genesis[a] = v
	}
	n.chain = []*block{n.newBlock(nil, GenesisTime)}
	n.replay()
	return n
}

func (n *Node) newBlock(parent *block, ts int64) *block {
	b := &block{ts: ts}
	if parent != nil {
		b.num, b.parent = parent.num+1, parent.id
	}
	h := sha256.New()
	h.Write(b.parent[:])
	binary.Write(h, binary.BigEndian, [3]int64{b.num, b.ts, int64(n.forks)})
	copy(b.id[:], h.Sum(nil))
	binary.BigEndian.PutUint64(b.id[:8], uint64(b.num))
	return b
}

// replay recomputes balances from the genesis and the chain.
func (n *Node) replay() {
	n.balances = map[channel.Address]int64{}
	for a, v := range n.genesis {
		n.balances[a] = v
	}
	for _, b := range n.chain {
		for _, t := range b.txs {
			if t.unchecked {
				continue
			}
			n.balances[t.raw.Transfer.Owner] -= t.raw.Transfer.Amount
			n.balances[t.raw.Transfer.To] += t.raw.Transfer.Amount
		}
	}
}

func (n *Node) head() *block { return n.chain[len(n.chain)-1] }

// Balance returns an address's BTT on the chain as mined so far.
func (n *Node) Balance(a channel.Address) int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.balances[a]
}

// Head returns the head block's number.
func (n *Node) Head() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.head().num
}

// Pending returns how many transactions wait in the pool.
func (n *Node) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pool)
}

// Mine adds k blocks; the first takes every pooled transaction that is still valid.
func (n *Node) Mine(k int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for range k {
		n.mineOne()
	}
}

func (n *Node) mineOne() {
	p := n.head()
	b := n.newBlock(p, p.ts+BlockInterval)
	for _, t := range n.pool {
		delete(n.inPool, t.st.ID())
		if t.unchecked {
			b.txs = append(b.txs, t)
			continue
		}
		tr := &t.raw.Transfer
		if t.raw.Expiration <= b.ts || n.balances[tr.Owner] < tr.Amount || n.onChain(t.st.ID()) != nil {
			continue // expired, unfunded or already in: dropped, as a node drops them
		}
		n.balances[tr.Owner] -= tr.Amount
		n.balances[tr.To] += tr.Amount
		t.j.Ret = []tron.TxRet{{ContractRet: "SUCCESS"}}
		b.txs = append(b.txs, t)
	}
	n.pool = nil
	n.chain = append(n.chain, b)
}

// Reorg replaces the last depth blocks by depth+1 new ones. Transactions of the removed
// blocks go back to the pool unless drop says otherwise, and are mined into the first new
// block if still valid.
func (n *Node) Reorg(depth int, drop func(txid [32]byte) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if depth >= len(n.chain) {
		depth = len(n.chain) - 1
	}
	removed := n.chain[len(n.chain)-depth:]
	n.chain = n.chain[:len(n.chain)-depth]
	var back []*chainTx
	for _, b := range removed {
		for _, t := range b.txs {
			if drop == nil || !drop(t.st.ID()) {
				back = append(back, t)
			}
		}
	}
	n.pool = append(back, n.pool...)
	n.forks++
	n.replay()
	for range depth + 1 {
		n.mineOne()
	}
}

func (n *Node) onChain(id [32]byte) *block {
	for _, b := range n.chain {
		for _, t := range b.txs {
			if t.st.ID() == id {
				return b
			}
		}
	}
	return nil
}

// RefusedError is a refused transaction with java-tron's code.
type RefusedError struct{ Code, Msg string }

func (e *RefusedError) Error() string { return e.Code + ": " + e.Msg }

// Submit validates a transaction as java-tron's broadcast does and pools it.
func (n *Node) Submit(j *tron.TxJSON) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.submit(j)
}

func (n *Node) submit(j *tron.TxJSON) error {
	st, raw, err := j.Decode()
	if err != nil {
		if errors.Is(err, tron.ErrBadSignature) {
			return &RefusedError{"SIGERROR", err.Error()}
		}
		return &RefusedError{"OTHER_ERROR", err.Error()}
	}
	id := st.ID()
	if n.inPool[id] || n.onChain(id) != nil {
		return &RefusedError{"DUP_TRANSACTION_ERROR", "dup trans"}
	}
	if _, err := st.Verify(); err != nil {
		return &RefusedError{"SIGERROR", err.Error()}
	}
	head := n.head()
	refNum := int64(binary.BigEndian.Uint16(raw.RefBlockBytes[:]))
	tapos := false
	for i := len(n.chain) - 1; i >= 0 && i >= len(n.chain)-65536; i-- {
		b := n.chain[i]
		if b.num&0xffff == refNum && string(b.id[8:16]) == string(raw.RefBlockHash[:]) {
			tapos = true
			break
		}
	}
	if !tapos {
		return &RefusedError{"TAPOS_ERROR", "Tapos check error"}
	}
	if raw.Expiration <= head.ts || raw.Expiration > head.ts+maxExpiration {
		return &RefusedError{"TRANSACTION_EXPIRATION_ERROR", "transaction expired"}
	}
	tr := &raw.Transfer
	switch {
	case tr.Asset != tron.BTTAsset:
		return &RefusedError{"CONTRACT_VALIDATE_ERROR", "No asset!"}
	case tr.Amount <= 0:
		return &RefusedError{"CONTRACT_VALIDATE_ERROR", "Amount must be greater than 0."}
	case tr.Owner == tr.To:
		return &RefusedError{"CONTRACT_VALIDATE_ERROR", "Cannot transfer asset to yourself."}
	case n.balances[tr.Owner] < tr.Amount:
		return &RefusedError{"CONTRACT_VALIDATE_ERROR", "assetBalance is not sufficient."}
	}
	stored := *j
	stored.Visible = false
	stored.Signature = []string{hex.EncodeToString(st.Sig[:])}
	rj, _ := raw.MarshalJSON()
	stored.RawData = rj
	n.pool = append(n.pool, &chainTx{st: *st, raw: raw, j: stored})
	n.inPool[id] = true
	n.broadcasts++
	return nil
}

// Transfer signs a BTT transfer with k, referencing the head block, and submits it: a user
// sending tokens on chain.
func (n *Node) Transfer(k *channel.PrivateKey, to channel.Address, amount int64, memo []byte) ([32]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.head()
	r := tron.Raw{Expiration: h.ts + 60_000, Timestamp: h.ts, Data: memo,
		Transfer: tron.Transfer{Asset: tron.BTTAsset, Owner: k.Address(), To: to, Amount: amount}}
	r.RefBlock(h.num, h.id)
	st := tron.NewSignedTx(&r, k)
	j, err := st.JSON()
	if err != nil {
		return [32]byte{}, err
	}
	return st.ID(), n.submit(j)
}

// InjectUnchecked puts a transaction into the next block without any check: what a lying or
// broken node could report.
func (n *Node) InjectUnchecked(st tron.SignedTx, raw *tron.Raw) {
	n.mu.Lock()
	defer n.mu.Unlock()
	j, _ := st.JSON()
	if j == nil { // not decodable: serve the bytes as they are
		id := st.ID()
		j = &tron.TxJSON{TxID: hex.EncodeToString(id[:]), RawDataHex: hex.EncodeToString(st.Raw),
			Signature: []string{hex.EncodeToString(st.Sig[:])}}
	}
	j.Ret = []tron.TxRet{{ContractRet: "SUCCESS"}}
	n.pool = append(n.pool, &chainTx{st: st, raw: raw, j: *j, unchecked: true})
}

func (n *Node) blockJSON(b *block) tron.BlockJSON {
	j := tron.BlockJSON{BlockID: hex.EncodeToString(b.id[:])}
	j.BlockHeader.RawData.Number = b.num
	j.BlockHeader.RawData.Timestamp = b.ts
	if b.num > 0 {
		j.BlockHeader.RawData.ParentHash = hex.EncodeToString(b.parent[:])
	}
	for _, t := range b.txs {
		j.Transactions = append(j.Transactions, t.j)
	}
	return j
}

// ServeHTTP answers the endpoints; POST and GET both work, as with java-tron.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, err := n.answer(r.URL.Path, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	tamper := n.tamper
	n.mu.Unlock()
	if tamper != nil {
		out = tamper(r.URL.Path, out)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func (n *Node) answer(path string, body []byte) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch path {
	case "/wallet/getnowblock":
		return json.Marshal(n.blockJSON(n.head()))
	case "/wallet/getblockbynum":
		var q struct {
			Num int64 `json:"num"`
		}
		if err := json.Unmarshal(body, &q); err != nil {
			return nil, err
		}
		if q.Num < 0 || q.Num >= int64(len(n.chain)) {
			return []byte("{}"), nil
		}
		return json.Marshal(n.blockJSON(n.chain[q.Num]))
	case "/wallet/broadcasttransaction":
		var j tron.TxJSON
		if err := json.Unmarshal(body, &j); err != nil {
			return json.Marshal(tron.BroadcastResult{Code: "OTHER_ERROR", Message: hex.EncodeToString([]byte(err.Error()))})
		}
		err := n.submit(&j)
		if re, ok := errors.AsType[*RefusedError](err); ok {
			n.refused = append(n.refused, re.Code)
			return json.Marshal(tron.BroadcastResult{Code: re.Code, TxID: j.TxID, Message: hex.EncodeToString([]byte(re.Msg))})
		}
		return json.Marshal(tron.BroadcastResult{Result: true, TxID: j.TxID})
	case "/wallet/gettransactioninfobyid", "/wallet/gettransactionbyid":
		var q struct {
			Value string `json:"value"`
		}
		var id [32]byte
		if err := json.Unmarshal(body, &q); err != nil || len(q.Value) != 64 {
			return []byte("{}"), nil
		}
		hex.Decode(id[:], []byte(q.Value))
		for _, b := range n.chain {
			for _, t := range b.txs {
				if t.st.ID() != id {
					continue
				}
				if strings.HasSuffix(path, "infobyid") {
					return json.Marshal(tron.TxInfo{ID: q.Value, BlockNumber: b.num, BlockTime: b.ts})
				}
				return json.Marshal(t.j)
			}
		}
		if !strings.HasSuffix(path, "infobyid") {
			for _, t := range n.pool {
				if t.st.ID() == id {
					return json.Marshal(t.j)
				}
			}
		}
		return []byte("{}"), nil
	}
	return nil, fmt.Errorf("no endpoint %s", path)
}

// DropPool forgets every pooled transaction: they were lost before any block took them.
func (n *Node) DropPool() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pool = nil
	clear(n.inPool)
}
