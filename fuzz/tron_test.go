package fuzz

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/tron"
)

func tronSeedTx() tron.SignedTx {
	owner, to := fuzzKey(3), fuzzKey(4)
	r := tron.Raw{Expiration: 1_750_000_060_000, Timestamp: 1_750_000_000_123, Data: []byte(to.Address().String()),
		Transfer: tron.Transfer{Asset: tron.BTTAsset, Owner: owner.Address(), To: to.Address(), Amount: 1_500_000}}
	r.RefBlock(71_234_567, [32]byte{0, 0, 0, 0, 4, 63, 235, 7, 1, 2, 3, 4, 5, 6, 7, 8})
	return tron.NewSignedTx(&r, owner)
}

// FuzzTronRaw decodes arbitrary bytes as a transaction's raw_data. What decodes must be
// exactly what Marshal writes (the transaction id is a hash of these bytes), and a signed
// transaction in the ledger's form must decode the same.
func FuzzTronRaw(f *testing.F) {
	st := tronSeedTx()
	f.Add(st.Raw)
	r, _ := tron.ParseRaw(st.Raw)
	r.FeeLimit, r.PermissionID, r.Data = 10_000_000, 2, nil
	f.Add(r.Marshal())
	f.Add([]byte{0x0a, 0x02, 0xab})
	f.Add([]byte{0x5a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := tron.ParseRaw(in)
		if err == nil && !bytes.Equal(r.Marshal(), in) {
			t.Fatalf("decoded %x but it encodes as %x", in, r.Marshal())
		}
		if err == nil {
			j, err := r.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var back tron.Raw
			if err := back.UnmarshalJSON(j); err != nil || !bytes.Equal(back.Marshal(), in) {
				t.Fatalf("JSON form %s does not read back (%v)", j, err)
			}
		}
		s := hex.EncodeToString(in)
		if _, raw, err := ledger.DecodeTx(s); err == nil {
			// Accepted only when signed by the owner: the last 65 bytes are the signature.
			if raw == nil || raw.Transfer.Owner.IsZero() {
				t.Fatalf("DecodeTx accepted %s without an owner", s)
			}
		}
	})
}

// FuzzTronNodeAnswers feeds arbitrary bytes to every decoder of a full node's answers.
func FuzzTronNodeAnswers(f *testing.F) {
	st := tronSeedTx()
	j, _ := st.JSON()
	j.Ret = []tron.TxRet{{ContractRet: "SUCCESS"}}
	blk := tron.BlockJSON{BlockID: "00000000043feb07" + "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718", Transactions: []tron.TxJSON{*j}}
	blk.BlockHeader.RawData.Number = 71_297_799
	blk.BlockHeader.RawData.Timestamp = 1_750_000_003_000
	blk.BlockHeader.RawData.ParentHash = "00000000043feb06" + "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
	b, _ := json.Marshal(blk)
	f.Add(b)
	tb, _ := json.Marshal(j)
	f.Add(tb)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"result":true,"txid":"` + j.TxID + `"}`))
	f.Add([]byte(`{"code":"SIGERROR","txid":"00","message":"76616c6964617465207369676e6174757265206572726f72"}`))
	f.Add([]byte(`{"id":"` + j.TxID + `","fee":1100000,"blockNumber":71297799,"blockTimeStamp":1750000003000,"receipt":{"net_usage":283}}`))
	id := st.ID()
	f.Fuzz(func(t *testing.T, in []byte) {
		if blk, err := tron.DecodeBlock(in); err == nil {
			if tron.BlockNumberOf(blk.ID) != blk.Number || len(blk.Txs) > tron.MaxBlockTxs {
				t.Fatalf("block %x numbered %d accepted", blk.ID, blk.Number)
			}
			for i := range blk.Txs {
				if st, _, err := blk.Txs[i].Decode(); err == nil && hex.EncodeToString(st.Raw) != blk.Txs[i].RawDataHex {
					t.Fatal("decoded transaction differs from its raw_data_hex")
				}
			}
		}
		tron.DecodeBroadcast(in)
		if ti, err := tron.DecodeTxInfo(in, id); err == nil && ti.ID != hex.EncodeToString(id[:]) && len(ti.ID) != 64 {
			t.Fatalf("info for %q accepted", ti.ID)
		}
		var tj tron.TxJSON
		if json.Unmarshal(in, &tj) == nil {
			if st, _, err := tj.Decode(); err == nil {
				id := st.ID()
				if !bytes.EqualFold([]byte(tj.TxID), []byte(hex.EncodeToString(id[:]))) {
					t.Fatal("accepted a txID that is not the hash of raw_data")
				}
			}
		}
	})
}

// FuzzBridgeRequest decodes arbitrary bytes as each of the bridge's signed ledger requests
// and checks that what decodes re-encodes to the same value and digest.
func FuzzBridgeRequest(f *testing.F) {
	id := channel.LedgerID{7}
	k := fuzzKey(5)
	st := tronSeedTx()
	reqs := []any{
		&ledger.WithdrawRequest{To: fuzzKey(6).Address(), Amount: 7, Nonce: 8},
		&ledger.BridgeTxRequest{Withdrawal: ledger.Hash{1}, Attempt: 1, Tx: ledger.EncodeTx(&st)},
		&ledger.BridgeConfirmRequest{Withdrawal: ledger.Hash{1}, TxID: ledger.Hash(st.ID()), Block: 99},
		&ledger.BridgeDepositRequest{Tx: ledger.EncodeTx(&st), Block: 100},
		&ledger.BridgeScanRequest{Height: 100, Hash: ledger.Hash{9}},
	}
	reqs[0].(*ledger.WithdrawRequest).Sign(id, k)
	for _, x := range reqs {
		b, _ := json.Marshal(x)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		roundTrip(t, in, func() any { return new(ledger.WithdrawRequest) }, func(x any) [32]byte { return x.(*ledger.WithdrawRequest).Digest(id) })
		roundTrip(t, in, func() any { return new(ledger.BridgeTxRequest) }, func(x any) [32]byte { return x.(*ledger.BridgeTxRequest).Digest(id) })
		roundTrip(t, in, func() any { return new(ledger.BridgeConfirmRequest) }, func(x any) [32]byte { return x.(*ledger.BridgeConfirmRequest).Digest(id) })
		roundTrip(t, in, func() any { return new(ledger.BridgeDepositRequest) }, func(x any) [32]byte { return x.(*ledger.BridgeDepositRequest).Digest(id) })
		roundTrip(t, in, func() any { return new(ledger.BridgeScanRequest) }, func(x any) [32]byte { return x.(*ledger.BridgeScanRequest).Digest(id) })
	})
}
