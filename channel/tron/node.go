package tron

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Node is the part of a TRON full node's HTTP API the bridge uses. HTTPNode talks to a real
// node; tests use a stand-in (internal/tronstandin) that implements the same endpoints.
type Node interface {
	// NowBlock returns the head block (/wallet/getnowblock).
	NowBlock(ctx context.Context) (*Block, error)
	// BlockByNum returns block n (/wallet/getblockbynum); ErrNotFound when there is none.
	BlockByNum(ctx context.Context, n int64) (*Block, error)
	// Broadcast submits a signed transaction (/wallet/broadcasttransaction). A transaction
	// the node already has is not an error: broadcasting is idempotent.
	Broadcast(ctx context.Context, tx *SignedTx) error
	// TransactionInfo says where a transaction was included (/wallet/gettransactioninfobyid);
	// ErrNotFound when the node knows no block holding it.
	TransactionInfo(ctx context.Context, txid [32]byte) (*TxInfo, error)
}

// ErrNotFound is a block or transaction the node does not have.
var ErrNotFound = errors.New("tron: not found")

// BroadcastError is a transaction the node refused, with java-tron's code
// (SIGERROR, CONTRACT_VALIDATE_ERROR, TAPOS_ERROR, TRANSACTION_EXPIRATION_ERROR, ...).
type BroadcastError struct {
	Code    string
	Message string
}

func (e *BroadcastError) Error() string {
	return "tron: broadcast refused: " + e.Code + ": " + e.Message
}

// Block is a block as the bridge needs it.
type Block struct {
	ID        [32]byte // the first 8 bytes are the number, big-endian
	Number    int64
	Timestamp int64 // Unix milliseconds
	Parent    [32]byte
	Txs       []TxJSON
}

// TxInfo is where a transaction was included.
type TxInfo struct {
	ID          string `json:"id"`
	BlockNumber int64  `json:"blockNumber"`
	BlockTime   int64  `json:"blockTimeStamp"`
	// Result is "FAILED" when the transaction was included but did not execute; empty otherwise.
	Result string `json:"result,omitempty"`
}

// BlockJSON is a block as the HTTP API writes it.
type BlockJSON struct {
	BlockID      string          `json:"blockID"`
	BlockHeader  BlockHeaderJSON `json:"block_header"`
	Transactions []TxJSON        `json:"transactions,omitempty"`
}

// BlockHeaderJSON is block_header; only raw_data is read.
type BlockHeaderJSON struct {
	RawData struct {
		Number     int64  `json:"number"`
		ParentHash string `json:"parentHash"`
		Timestamp  int64  `json:"timestamp"`
	} `json:"raw_data"`
	WitnessSignature string `json:"witness_signature,omitempty"`
}

// MaxBlockTxs bounds the transactions the client accepts in one block; main-net blocks hold
// a few hundred to a few thousand.
const MaxBlockTxs = 20_000

// DecodeBlock reads a block answer. An empty object ({}) is ErrNotFound, as java-tron answers
// for a block it does not have.
func DecodeBlock(b []byte) (*Block, error) {
	var j BlockJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: block: %v", ErrProto, err)
	}
	return j.Decode()
}

// Decode checks the form of a block: hex ids, the number in the id's first 8 bytes.
func (j *BlockJSON) Decode() (*Block, error) {
	if j.BlockID == "" {
		return nil, ErrNotFound
	}
	var blk Block
	if err := hexFixed(blk.ID[:], j.BlockID); err != nil {
		return nil, err
	}
	h := &j.BlockHeader.RawData
	if h.ParentHash != "" { // the genesis block has none
		if err := hexFixed(blk.Parent[:], h.ParentHash); err != nil {
			return nil, err
		}
	}
	if h.Number < 0 || BlockNumberOf(blk.ID) != h.Number {
		return nil, fmt.Errorf("%w: block id %s does not carry number %d", ErrProto, j.BlockID, h.Number)
	}
	if len(j.Transactions) > MaxBlockTxs {
		return nil, fmt.Errorf("%w: %d transactions in one block", ErrProto, len(j.Transactions))
	}
	blk.Number, blk.Timestamp, blk.Txs = h.Number, h.Timestamp, j.Transactions
	return &blk, nil
}

// BlockNumberOf returns the number a block id carries in its first 8 bytes.
func BlockNumberOf(id [32]byte) int64 {
	var n int64
	for _, c := range id[:8] {
		n = n<<8 | int64(c)
	}
	return n
}

// HTTPNode is a Node over a full node's HTTP API (java-tron's /wallet endpoints, port 8090
// by default).
type HTTPNode struct {
	base string
	hc   *http.Client
}

// NewHTTPNode returns a client for the node at base, e.g. "http://127.0.0.1:8090". hc may be
// nil for http.DefaultClient.
func NewHTTPNode(base string, hc *http.Client) *HTTPNode {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &HTTPNode{base: strings.TrimRight(base, "/"), hc: hc}
}

// maxAnswer bounds what the client reads from a node: a full main-net block is a few MB.
const maxAnswer = 32 << 20

func (n *HTTPNode) post(ctx context.Context, path string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.base+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxAnswer {
		return nil, fmt.Errorf("tron: %s answered more than %d bytes", path, maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tron: %s: %s: %.200s", path, resp.Status, out)
	}
	return out, nil
}

// NowBlock implements Node.
func (n *HTTPNode) NowBlock(ctx context.Context) (*Block, error) {
	b, err := n.post(ctx, "/wallet/getnowblock", struct{}{})
	if err != nil {
		return nil, err
	}
	return DecodeBlock(b)
}

// BlockByNum implements Node.
func (n *HTTPNode) BlockByNum(ctx context.Context, num int64) (*Block, error) {
	b, err := n.post(ctx, "/wallet/getblockbynum", map[string]int64{"num": num})
	if err != nil {
		return nil, err
	}
	blk, err := DecodeBlock(b)
	if err == nil && blk.Number != num {
		return nil, fmt.Errorf("%w: asked for block %d, got %d", ErrProto, num, blk.Number)
	}
	return blk, err
}

// BroadcastResult is the answer of /wallet/broadcasttransaction.
type BroadcastResult struct {
	Result  bool   `json:"result"`
	Code    string `json:"code,omitempty"`
	TxID    string `json:"txid,omitempty"`
	Message string `json:"message,omitempty"` // hex of the text, as java-tron writes it
}

// DecodeBroadcast reads a broadcast answer: nil when the node took the transaction or
// already had it.
func DecodeBroadcast(b []byte) error {
	var r BroadcastResult
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%w: broadcast answer: %v", ErrProto, err)
	}
	if r.Result || r.Code == "DUP_TRANSACTION_ERROR" {
		return nil
	}
	msg := r.Message
	if m, err := hex.DecodeString(msg); err == nil {
		msg = string(m)
	}
	if r.Code == "" {
		r.Code = "UNKNOWN"
	}
	return &BroadcastError{Code: r.Code, Message: msg}
}

// Broadcast implements Node.
func (n *HTTPNode) Broadcast(ctx context.Context, tx *SignedTx) error {
	j, err := tx.JSON()
	if err != nil {
		return err
	}
	b, err := n.post(ctx, "/wallet/broadcasttransaction", j)
	if err != nil {
		return err
	}
	return DecodeBroadcast(b)
}

// DecodeTxInfo reads a gettransactioninfobyid answer ({} is ErrNotFound).
func DecodeTxInfo(b []byte, txid [32]byte) (*TxInfo, error) {
	var ti TxInfo
	if err := json.Unmarshal(b, &ti); err != nil {
		return nil, fmt.Errorf("%w: transaction info: %v", ErrProto, err)
	}
	if ti.ID == "" {
		return nil, ErrNotFound
	}
	if !strings.EqualFold(ti.ID, hex.EncodeToString(txid[:])) || ti.BlockNumber < 0 {
		return nil, fmt.Errorf("%w: info for %.70q, asked for %x", ErrProto, ti.ID, txid)
	}
	return &ti, nil
}

// TransactionInfo implements Node.
func (n *HTTPNode) TransactionInfo(ctx context.Context, txid [32]byte) (*TxInfo, error) {
	b, err := n.post(ctx, "/wallet/gettransactioninfobyid", map[string]string{"value": hex.EncodeToString(txid[:])})
	if err != nil {
		return nil, err
	}
	return DecodeTxInfo(b, txid)
}
