package boltstore

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/speedbt/btt/channel/ledger"
)

// The bridge's records: withdrawals keyed by id, deposits by on-chain transaction id (both
// JSON, a few hundred bytes each), and its counters under "bridge" in the meta bucket.
var (
	bucketWithdrawals = []byte("withdrawals")
	bucketDeposits    = []byte("deposits")
	keyBridge         = []byte("bridge")
)

func loadBridge(tx *bolt.Tx, d *ledger.Data) error {
	if v := tx.Bucket(bucketMeta).Get(keyBridge); v != nil {
		var m ledger.BridgeMeta
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("%w: bridge meta: %v", ErrCorrupt, err)
		}
		d.Bridge = &m
	}
	err := tx.Bucket(bucketWithdrawals).ForEach(func(k, v []byte) error {
		var w ledger.Withdrawal
		if err := json.Unmarshal(v, &w); err != nil || string(w.ID[:]) != string(k) {
			return fmt.Errorf("%w: withdrawal %x: %v", ErrCorrupt, k, err)
		}
		d.Withdrawals = append(d.Withdrawals, w)
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketDeposits).ForEach(func(k, v []byte) error {
		var dp ledger.Deposit
		if err := json.Unmarshal(v, &dp); err != nil || string(dp.TxID[:]) != string(k) {
			return fmt.Errorf("%w: deposit %x: %v", ErrCorrupt, k, err)
		}
		d.Deposits = append(d.Deposits, dp)
		return nil
	})
}

func commitBridge(tx *bolt.Tx, d *ledger.Data) error {
	if d.Bridge != nil {
		if err := putJSON(tx.Bucket(bucketMeta), keyBridge, d.Bridge); err != nil {
			return err
		}
	}
	wb := tx.Bucket(bucketWithdrawals)
	for i := range d.Withdrawals {
		if err := putJSON(wb, d.Withdrawals[i].ID[:], &d.Withdrawals[i]); err != nil {
			return err
		}
	}
	db := tx.Bucket(bucketDeposits)
	for i := range d.Deposits {
		if err := putJSON(db, d.Deposits[i].TxID[:], &d.Deposits[i]); err != nil {
			return err
		}
	}
	return nil
}
