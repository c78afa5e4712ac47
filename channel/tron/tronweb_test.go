package tron

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/internal/testutil"
)

type refCase struct {
	Key           string  `json:"key"`
	To            string  `json:"to"`
	Amount        int64   `json:"amount"`
	Asset         string  `json:"asset"`
	RefBlockBytes string  `json:"ref_block_bytes"`
	RefBlockHash  string  `json:"ref_block_hash"`
	Expiration    int64   `json:"expiration"`
	Timestamp     int64   `json:"timestamp"`
	Data          string  `json:"data,omitempty"`
	FeeLimit      int64   `json:"fee_limit,omitempty"`
	Ours          *TxJSON `json:"ours"`
}

type refResult struct {
	Address    string `json:"address"`
	OwnerHex   string `json:"owner_hex"`
	ToBase58   string `json:"to_base58"`
	RawDataHex string `json:"raw_data_hex"`
	TxID       string `json:"txID"`
	Signature  string `json:"signature"`
	OursChecks bool   `json:"ours_checks"`
}

// refTx is a transaction of the reference table and its owner's key.
type refTx struct {
	Raw
	key *channel.PrivateKey
}

// refTable returns the transactions compared with tronweb: hand-picked edges (the smallest
// and largest keys, amounts around varint and JavaScript-integer boundaries, empty and long
// memos, a fee limit) and seeded random ones.
func refTable(t *testing.T) []refTx {
	t.Helper()
	rng := rand.New(rand.NewPCG(18, 2026))
	key := func(i int) *channel.PrivateKey {
		var b [32]byte
		switch i {
		case 0:
			b[31] = 1
		case 1: // n - 1, the largest valid scalar
			n, _ := hex.DecodeString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140")
			copy(b[:], n)
		default:
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		}
		k, err := channel.NewPrivateKey(b[:])
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	var out []refTx
	amounts := []int64{1, 127, 128, 16383, 16384, 1_000_000, 123_456_789, 1<<53 - 1}
	memos := [][]byte{nil, []byte("TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"), bytes.Repeat([]byte{0xff}, 200), {0}}
	for i := 0; i < 40; i++ {
		k := key(i)
		to := key(i + 100).Address()
		var r Raw
		num := int64(rng.Uint64N(80_000_000))
		var id [32]byte
		for j := range id {
			id[j] = byte(rng.Uint32())
		}
		r.RefBlock(num, id)
		r.Timestamp = 1_700_000_000_000 + int64(rng.Uint64N(1e11))
		r.Expiration = r.Timestamp + 60_000 + int64(rng.Uint64N(86_400_000))
		r.Transfer = Transfer{Asset: BTTAsset, Owner: k.Address(), To: to, Amount: amounts[i%len(amounts)]}
		if i >= len(amounts) {
			r.Transfer.Amount = 1 + int64(rng.Uint64N(1<<53-1))
		}
		r.Data = memos[i%len(memos)]
		if i%5 == 3 {
			r.FeeLimit = 1_000_000 * int64(1+i)
		}
		if i%7 == 6 {
			r.Transfer.Asset = "1000001" // another TRC-10 token: the layout is the same
		}
		out = append(out, refTx{r, k})
	}
	return out
}

// TestMatchesTronweb builds and signs a table of transfers here and, offline, with tronweb
// under node; raw_data bytes, transaction ids, signatures and addresses must be identical,
// and tronweb must accept our JSON form as describing our bytes (txCheck).
func TestMatchesTronweb(t *testing.T) {
	dir := testutil.TronwebDir(t)
	table := refTable(t)
	cases := make([]refCase, len(table))
	ours := make([]SignedTx, len(table))
	for i := range table {
		r, k := &table[i].Raw, table[i].key
		ours[i] = NewSignedTx(r, k)
		j, err := ours[i].JSON()
		if err != nil {
			t.Fatal(err)
		}
		cases[i] = refCase{Key: hex.EncodeToString(k.Bytes()), To: hex.EncodeToString(r.Transfer.To[:]),
			Amount: r.Transfer.Amount, Asset: hex.EncodeToString([]byte(r.Transfer.Asset)),
			RefBlockBytes: hex.EncodeToString(r.RefBlockBytes[:]), RefBlockHash: hex.EncodeToString(r.RefBlockHash[:]),
			Expiration: r.Expiration, Timestamp: r.Timestamp, Data: hex.EncodeToString(r.Data), FeeLimit: r.FeeLimit, Ours: j}
	}
	in, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "tronweb-ref.js"))
	cmd := exec.Command("node", script)
	cmd.Env = append(cmd.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res []refResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		t.Fatalf("node answered %d results (%v): %.300s", len(res), err, out)
	}
	for i, got := range res {
		r := &table[i].Raw
		id := ours[i].ID()
		if want := r.Transfer.Owner.String(); got.Address != want {
			t.Errorf("case %d: tronweb address %s, ours %s", i, got.Address, want)
		}
		if want := hex.EncodeToString(r.Transfer.Owner[:]); got.OwnerHex != want {
			t.Errorf("case %d: tronweb owner hex %s, ours %s", i, got.OwnerHex, want)
		}
		if want := r.Transfer.To.String(); got.ToBase58 != want {
			t.Errorf("case %d: tronweb to %s, ours %s", i, got.ToBase58, want)
		}
		if want := hex.EncodeToString(ours[i].Raw); got.RawDataHex != want {
			t.Errorf("case %d: raw_data differs\ntronweb %s\nours    %s", i, got.RawDataHex, want)
		}
		if want := hex.EncodeToString(id[:]); got.TxID != want {
			t.Errorf("case %d: txID tronweb %s, ours %s", i, got.TxID, want)
		}
		if want := hex.EncodeToString(ours[i].Sig[:]); got.Signature != want {
			t.Errorf("case %d: signature differs\ntronweb %s\nours    %s", i, got.Signature, want)
		}
		if !got.OursChecks {
			t.Errorf("case %d: tronweb's txCheck refuses our JSON form", i)
		}
		if !strings.HasPrefix(got.Address, "T") {
			t.Errorf("case %d: address %q", i, got.Address)
		}
	}
	t.Logf("%d transactions identical to tronweb's", len(res))
}
