package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/tron"
)

// deposits reports the transfers to the bridge in every block that has the confirmations,
// from the one after the last reported, and records the progress block by block.
func (b *Bridge) deposits(ctx context.Context, info *ledger.BridgeInfo, head *tron.Block) error {
	last := head.Number - b.cfg.Confirmations
	from := info.ScanHeight + 1
	var prev [32]byte
	if info.ScanHash.IsZero() {
		from = b.cfg.StartHeight
		if from == 0 {
			from = max(last, 1)
		}
	} else {
		blk, err := b.node.BlockByNum(ctx, info.ScanHeight)
		if err != nil {
			return fmt.Errorf("block %d: %w", info.ScanHeight, err)
		}
		if blk.ID != info.ScanHash {
			return fmt.Errorf("%w: block %d is %x, the ledger recorded %s", ErrDeepReorg, info.ScanHeight, blk.ID, info.ScanHash)
		}
		prev = blk.ID
	}
	for n := from; n <= last && n < from+b.cfg.MaxBlocks; n++ {
		blk, err := b.node.BlockByNum(ctx, n)
		if err != nil {
			return fmt.Errorf("block %d: %w", n, err)
		}
		if prev != ([32]byte{}) && blk.Parent != prev {
			return fmt.Errorf("block %d does not follow block %d (%x): the chain is changing", n, n-1, prev)
		}
		for i := range blk.Txs {
			if err := b.deposit(ctx, &blk.Txs[i], n); err != nil {
				return fmt.Errorf("block %d: %w", n, err)
			}
		}
		req := ledger.BridgeScanRequest{PubKey: b.key.Public(), Height: ledger.U64(n), Hash: ledger.Hash(blk.ID)}
		if err := b.post(ctx, "/v1/bridge/scan", &req, req.Digest, &req.Sig); err != nil {
			return fmt.Errorf("record block %d: %w", n, err)
		}
		prev = blk.ID
	}
	return nil
}

// deposit reports one transaction if it is a BTT transfer to the bridge that executed. What
// does not check out (an id that is not the hash of the bytes, a signature that is not the
// owner's) is a node that lies: skipped, and logged.
func (b *Bridge) deposit(ctx context.Context, t *tron.TxJSON, n int64) error {
	if !okRet(t) {
		return nil
	}
	st, raw, err := t.Decode()
	if errors.Is(err, tron.ErrUnsupported) {
		return nil // another kind of transaction
	}
	if err != nil {
		b.cfg.Logf("block %d: ignoring a transaction the node misreports: %v", n, err)
		return nil
	}
	if raw.Transfer.To != b.addr || raw.Transfer.Asset != tron.BTTAsset {
		return nil
	}
	if _, err := st.Verify(); err != nil {
		b.cfg.Logf("block %d: ignoring transaction %x: %v", n, st.ID(), err)
		return nil
	}
	req := ledger.BridgeDepositRequest{PubKey: b.key.Public(), Tx: ledger.EncodeTx(st), Block: ledger.U64(n)}
	var d ledger.Deposit
	if err := b.postOut(ctx, "/v1/bridge/deposit", &req, req.Digest, &req.Sig, &d); err != nil {
		return fmt.Errorf("deposit %x: %w", st.ID(), err)
	}
	b.cfg.Logf("deposit %s: %s BTT from %s, %s %s", d.TxID, channel.FormatBTT(uint64(d.Amount)), d.From, d.Status, d.To)
	return nil
}

// post signs a bridge report (digest fills sig) and sends it.
func (b *Bridge) post(ctx context.Context, path string, req any, digest func(channel.LedgerID) [32]byte, sig *channel.Signature) error {
	return b.postOut(ctx, path, req, digest, sig, nil)
}

func (b *Bridge) postOut(ctx context.Context, path string, req any, digest func(channel.LedgerID) [32]byte, sig *channel.Signature, out any) error {
	id, err := b.ledger.LedgerID(ctx)
	if err != nil {
		return err
	}
	*sig = b.key.Sign(digest(id))
	return b.ledger.Post(ctx, path, req, out)
}
