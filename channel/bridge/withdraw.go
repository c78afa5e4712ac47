package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/tron"
)

// withdrawal moves one open withdrawal forward:
//
//	pending                 -> build and sign attempt 1, record it, broadcast it
//	signed, on chain        -> confirm once it has the confirmations
//	signed, not on chain    -> broadcast the recorded transaction again, or, when it expired
//	                           unincluded, build the next attempt
func (b *Bridge) withdrawal(ctx context.Context, w *ledger.Withdrawal, head *tron.Block) error {
	if w.Status == ledger.WithdrawPending {
		return b.signAndSend(ctx, w, 1, head)
	}
	if w.Status != ledger.WithdrawSigned {
		return nil
	}
	tx, _, err := ledger.DecodeTx(w.Tx)
	if err != nil {
		return fmt.Errorf("recorded transaction: %w", err)
	}
	txid := tx.ID()
	info, err := b.node.TransactionInfo(ctx, txid)
	switch {
	case err == nil:
		return b.confirm(ctx, w, txid, info.BlockNumber, head)
	case !errors.Is(err, tron.ErrNotFound):
		return err
	}
	if !b.expiredUnincluded(ctx, w, head) {
		// Not on chain yet (or the node lost it): the same bytes again, which the node
		// takes or answers as a duplicate.
		if err := b.node.Broadcast(ctx, &tx); err != nil {
			return err
		}
		return nil
	}
	b.cfg.Logf("withdrawal %s: transaction %x expired unincluded; attempt %d", w.ID, txid, w.Attempt+1)
	return b.signAndSend(ctx, w, w.Attempt+1, head)
}

// expiredUnincluded reports whether the recorded transaction can never be included: the
// block Confirmations below the head is already past its expiration, so every block that
// could hold it is confirmed, and the node has none holding it.
func (b *Bridge) expiredUnincluded(ctx context.Context, w *ledger.Withdrawal, head *tron.Block) bool {
	n := head.Number - b.cfg.Confirmations
	if n < 0 || head.Timestamp <= w.Expiration {
		return false
	}
	blk, err := b.node.BlockByNum(ctx, n)
	return err == nil && blk.Timestamp > w.Expiration
}

func (b *Bridge) signAndSend(ctx context.Context, w *ledger.Withdrawal, attempt uint32, head *tron.Block) error {
	ts := b.cfg.Now().UnixMilli()
	if ts <= head.Timestamp {
		ts = head.Timestamp + 1
	}
	if attempt > 1 && ts <= w.Expiration {
		ts = w.Expiration + 1
	}
	r := tron.Raw{Expiration: head.Timestamp + b.cfg.Expiration.Milliseconds(), Timestamp: ts,
		Data:     ledger.WithdrawalMemo(w.ID),
		Transfer: tron.Transfer{Asset: tron.BTTAsset, Owner: b.addr, To: w.To, Amount: int64(w.Amount)}}
	r.RefBlock(head.Number, head.ID)
	tx := tron.NewSignedTx(&r, b.key)
	// Recorded before it is broadcast: whatever happens next, the ledger knows the one
	// transaction this attempt may put on chain.
	req := ledger.BridgeTxRequest{PubKey: b.key.Public(), Withdrawal: w.ID, Attempt: attempt, Tx: ledger.EncodeTx(&tx)}
	if err := b.post(ctx, "/v1/bridge/tx", &req, req.Digest, &req.Sig); err != nil {
		return fmt.Errorf("record transaction: %w", err)
	}
	b.cfg.Logf("withdrawal %s: attempt %d, transaction %x recorded", w.ID, attempt, tx.ID())
	if err := b.node.Broadcast(ctx, &tx); err != nil {
		return fmt.Errorf("broadcast %x: %w", tx.ID(), err)
	}
	b.cfg.Logf("withdrawal %s: transaction %x broadcast", w.ID, tx.ID())
	return nil
}

// confirm checks the node's claim that txid is in block n (the block must hold exactly the
// recorded transaction) and, with enough blocks on top, confirms the withdrawal.
func (b *Bridge) confirm(ctx context.Context, w *ledger.Withdrawal, txid [32]byte, n int64, head *tron.Block) error {
	if head.Number-n < b.cfg.Confirmations {
		return nil
	}
	blk, err := b.node.BlockByNum(ctx, n)
	if err != nil {
		return err
	}
	found := false
	for i := range blk.Txs {
		st, _, err := blk.Txs[i].Decode()
		if err == nil && st.ID() == txid && okRet(&blk.Txs[i]) {
			found = true
			break
		}
	}
	if !found {
		return fmt.Errorf("the node says %x is in block %d, which does not hold it", txid, n)
	}
	req := ledger.BridgeConfirmRequest{PubKey: b.key.Public(), Withdrawal: w.ID, TxID: ledger.Hash(txid), Block: ledger.U64(n)}
	if err := b.post(ctx, "/v1/bridge/confirm", &req, req.Digest, &req.Sig); err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	b.cfg.Logf("withdrawal %s: confirmed in block %d", w.ID, n)
	return nil
}

func okRet(t *tron.TxJSON) bool {
	return len(t.Ret) == 0 || t.Ret[0].ContractRet == "" || t.Ret[0].ContractRet == "SUCCESS"
}
