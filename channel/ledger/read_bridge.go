package ledger

import (
	"cmp"
	"context"
	"net/http"
	"slices"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/tron"
)

// BridgeReader answers the bridge's reads (GET /v1/bridge, /v1/withdrawals/{id},
// /v1/history) from committed state, like Reader. The writer's view implements it; a
// standby's store does not (its tables have no per-address index of withdrawals and
// deposits), so a standby refuses these reads with not_writer and clients ask the writer.
type BridgeReader interface {
	// Withdrawal returns a withdrawal; found is false for an unknown id.
	Withdrawal(ctx context.Context, id Hash) (w Withdrawal, found bool, err error)
	// History returns an address's newest withdrawals and deposits (maxBridgeListed of each),
	// oldest first.
	History(ctx context.Context, a channel.Address) (History, error)
	// BridgeState returns the counters and the open withdrawals (the oldest
	// maxBridgeListed); the caller fills in Bridge and Asset.
	BridgeState(ctx context.Context) (BridgeInfo, error)
}

// viewBridge is the bridge's part of the view: the committed withdrawals and deposits with
// the indexes the reads need, kept as the core keeps its own (bridge_core.go). Guarded by
// view.mu.
type viewBridge struct {
	meta        BridgeMeta
	withdrawals map[Hash]*Withdrawal
	deposits    map[Hash]*Deposit
	wByAddr     map[channel.Address][]*Withdrawal // by Seq
	dByAddr     map[channel.Address][]*Deposit    // by Seq
	open        []*Withdrawal                     // not final, by Seq
	inFlight    uint64                            // their total
}

func newViewBridge() viewBridge {
	return viewBridge{withdrawals: map[Hash]*Withdrawal{}, deposits: map[Hash]*Deposit{},
		wByAddr: map[channel.Address][]*Withdrawal{}, dByAddr: map[channel.Address][]*Deposit{}}
}

// apply folds a commit's bridge records into the view.
func (b *viewBridge) apply(d *Data) {
	if d.Bridge != nil {
		b.meta = *d.Bridge
	}
	for i := range d.Withdrawals {
		w := d.Withdrawals[i]
		cur := b.withdrawals[w.ID]
		wasOpen := cur != nil && !cur.Final()
		if cur == nil {
			cur = &Withdrawal{}
			b.withdrawals[w.ID] = cur
			b.wByAddr[w.From] = insertBySeq(b.wByAddr[w.From], cur, w.Seq, withdrawalSeq)
		}
		if wasOpen {
			b.inFlight -= uint64(cur.Amount)
		}
		*cur = w
		isOpen := !cur.Final()
		if isOpen {
			b.inFlight += uint64(cur.Amount)
		}
		switch {
		case isOpen && !wasOpen:
			b.open = insertBySeq(b.open, cur, cur.Seq, withdrawalSeq)
		case wasOpen && !isOpen: // confirmed: final for good
			if j, ok := slices.BinarySearchFunc(b.open, cur.Seq, bySeq(withdrawalSeq)); ok && b.open[j] == cur {
				b.open = slices.Delete(b.open, j, j+1)
			}
		}
	}
	for i := range d.Deposits {
		dp := d.Deposits[i]
		cur := b.deposits[dp.TxID]
		if cur == nil {
			cur = &Deposit{}
			b.deposits[dp.TxID] = cur
			if !dp.To.IsZero() {
				b.dByAddr[dp.To] = insertBySeq(b.dByAddr[dp.To], cur, dp.Seq, func(x *Deposit) uint64 { return x.Seq })
			}
		}
		*cur = dp // a deposit is recorded once; its address never changes
	}
}

func withdrawalSeq(w *Withdrawal) uint64 { return w.Seq }

func bySeq[T any](seqOf func(*T) uint64) func(*T, uint64) int {
	return func(e *T, s uint64) int { return cmp.Compare(seqOf(e), s) }
}

// insertBySeq inserts x, whose Seq is seq, into l ordered by Seq (x's fields may not be set
// yet). Records mostly arrive in order: the search lands at the end.
func insertBySeq[T any](l []*T, x *T, seq uint64, seqOf func(*T) uint64) []*T {
	i, _ := slices.BinarySearchFunc(l, seq, bySeq(seqOf))
	return slices.Insert(l, i, x)
}

func (v *view) Withdrawal(_ context.Context, id Hash) (Withdrawal, bool, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	w := v.bridge.withdrawals[id]
	if w == nil {
		return Withdrawal{}, false, nil
	}
	return *w, true, nil
}

func (v *view) History(_ context.Context, a channel.Address) (History, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	ws, ds := v.bridge.wByAddr[a], v.bridge.dByAddr[a]
	ws, ds = ws[max(0, len(ws)-maxBridgeListed):], ds[max(0, len(ds)-maxBridgeListed):]
	h := History{Withdrawals: make([]Withdrawal, 0, len(ws)), Deposits: make([]Deposit, 0, len(ds))}
	for _, w := range ws {
		h.Withdrawals = append(h.Withdrawals, *w)
	}
	for _, d := range ds {
		h.Deposits = append(h.Deposits, *d)
	}
	return h, nil
}

func (v *view) BridgeState(context.Context) (BridgeInfo, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := &v.bridge
	in := BridgeInfo{InFlight: U64(b.inFlight), Exported: b.meta.Exported, Imported: b.meta.Imported,
		ScanHeight: b.meta.ScanHeight, ScanHash: b.meta.ScanHash, Open: make([]Withdrawal, 0, min(len(b.open), maxBridgeListed))}
	if b.meta.Exported >= b.meta.Imported {
		in.OnChain = b.meta.Exported - b.meta.Imported
	}
	for _, w := range b.open[:min(len(b.open), maxBridgeListed)] {
		in.Open = append(in.Open, *w)
	}
	return in, nil
}

// bridgeReader returns where the bridge's reads come from, or not_writer on a standby.
func (h *handler) bridgeReader() (BridgeReader, error) {
	if br, ok := h.reader().(BridgeReader); ok {
		return br, nil
	}
	return nil, errorf(ErrNotWriter, "this ledger process is a standby; the bridge's records are read from the writer")
}

func (h *handler) getBridge(w http.ResponseWriter, r *http.Request) {
	if h.core.Bridge.IsZero() {
		writeErr(w, errorf(ErrNotFound, "this ledger has no bridge"))
		return
	}
	br, err := h.bridgeReader()
	var in BridgeInfo
	if err == nil {
		in, err = br.BridgeState(r.Context())
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	in.Bridge, in.Asset = h.core.Bridge, tron.BTTAsset
	writeJSON(w, in)
}
