package ledger

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"strings"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/tron"
)

// maxMemo bounds the memo a deposit record keeps, and maxBridgeListed the withdrawals and
// deposits one listing returns.
const (
	maxMemo         = 256
	maxBridgeListed = 1000
)

// bridgeState is the core's part for the bridge: withdrawals and deposits with their
// indexes, the counters, and what changed since the last commit. The Core owns it.
type bridgeState struct {
	meta      BridgeMeta
	dirtyMeta bool

	withdrawals map[Hash]*Withdrawal
	deposits    map[Hash]*Deposit
	wByAddr     map[channel.Address][]Hash
	dByAddr     map[channel.Address][]Hash
	open        map[Hash]struct{} // withdrawals not final
	inFlight    uint64            // their total

	dirtyW, dirtyD map[Hash]struct{}
}

func (b *bridgeState) load(d *Data) error {
	b.withdrawals = make(map[Hash]*Withdrawal, len(d.Withdrawals))
	b.deposits = make(map[Hash]*Deposit, len(d.Deposits))
	b.wByAddr = map[channel.Address][]Hash{}
	b.dByAddr = map[channel.Address][]Hash{}
	b.open = map[Hash]struct{}{}
	b.dirtyW, b.dirtyD = map[Hash]struct{}{}, map[Hash]struct{}{}
	if d.Bridge != nil {
		b.meta = *d.Bridge
	}
	ws := append([]Withdrawal(nil), d.Withdrawals...)
	slices.SortFunc(ws, func(x, y Withdrawal) int { return cmp.Compare(x.Seq, y.Seq) })
	for i := range ws {
		w := &ws[i]
		b.withdrawals[w.ID] = w
		b.wByAddr[w.From] = append(b.wByAddr[w.From], w.ID)
		if !w.Final() {
			b.open[w.ID] = struct{}{}
			var err error
			if b.inFlight, err = channel.AddAmounts(b.inFlight, uint64(w.Amount)); err != nil {
				return err
			}
		}
	}
	ds := append([]Deposit(nil), d.Deposits...)
	slices.SortFunc(ds, func(x, y Deposit) int { return cmp.Compare(x.Seq, y.Seq) })
	for i := range ds {
		dp := &ds[i]
		b.deposits[dp.TxID] = dp
		if !dp.To.IsZero() {
			b.dByAddr[dp.To] = append(b.dByAddr[dp.To], dp.TxID)
		}
	}
	return nil
}

func (b *bridgeState) nextSeq() uint64 {
	b.meta.Seq++
	b.dirtyMeta = true
	return b.meta.Seq
}

func (b *bridgeState) take(d *Data) {
	if b.dirtyMeta {
		m := b.meta
		d.Bridge = &m
	}
	for id := range b.dirtyW {
		d.Withdrawals = append(d.Withdrawals, *b.withdrawals[id])
	}
	for id := range b.dirtyD {
		d.Deposits = append(d.Deposits, *b.deposits[id])
	}
	b.dirtyMeta = false
	clear(b.dirtyW)
	clear(b.dirtyD)
}

// supplyTotal is the left side of the supply invariant: balances + open channels +
// withdrawals in flight + what is outstanding on chain (exported - imported).
func (c *Core) supplyTotal() (uint64, error) {
	t, err := c.Total()
	if err != nil {
		return 0, err
	}
	b := &c.bridge
	if b.meta.Imported > b.meta.Exported {
		return 0, channel.ErrOverflow
	}
	if t, err = channel.AddAmounts(t, b.inFlight); err != nil {
		return 0, err
	}
	return channel.AddAmounts(t, uint64(b.meta.Exported-b.meta.Imported))
}

// SupplyTotal returns balances + open channels + withdrawals in flight + tokens outstanding
// on chain. It equals channel.GenesisSupply after every operation.
func (c *Core) SupplyTotal() (uint64, error) { return c.supplyTotal() }

func (c *Core) bridgeSigner(signer channel.Address) error {
	if c.cfg.Bridge.IsZero() {
		return errorf(ErrInvalid, "this ledger has no bridge")
	}
	if signer != c.cfg.Bridge {
		return errorf(ErrBadSignature, "%s is not the bridge", signer)
	}
	return nil
}

// Withdraw moves Amount from From's balance into a withdrawal to the TRON address To: the
// tokens are in flight until the bridge's transaction is confirmed.
type Withdraw struct {
	From, To channel.Address
	Amount   uint64
	Nonce    uint64
	Digest   [32]byte
}

func (Withdraw) readOnly() bool { return false }
func (o Withdraw) apply(c *Core, now uint64) ([]byte, error) {
	if body, found, err := c.replay(o.From, o.Nonce, o.Digest); found {
		return body, err
	}
	if err := c.checkNonce(o.Nonce, now); err != nil {
		return nil, err
	}
	switch {
	case c.cfg.Bridge.IsZero():
		return nil, errorf(ErrInvalid, "this ledger has no bridge")
	case o.Amount == 0:
		return nil, errorf(ErrInvalid, "amount is zero")
	case o.Amount > math.MaxInt64:
		return nil, errorf(ErrInvalid, "amount above what a TRON transaction carries")
	case o.To[0] != channel.AddressPrefix:
		return nil, errorf(ErrInvalid, "bad destination address")
	case o.To == c.cfg.Bridge:
		return nil, errorf(ErrInvalid, "withdrawal to the bridge itself")
	}
	from := c.accounts[o.From]
	if from == nil || from.Balance < o.Amount {
		have := uint64(0)
		if from != nil {
			have = from.Balance
		}
		return nil, errorf(ErrInsufficientFunds, "balance %d, withdrawal %d", have, o.Amount)
	}
	b := &c.bridge
	inFlight, err := channel.AddAmounts(b.inFlight, o.Amount)
	if err != nil {
		return nil, errorf(ErrInvalid, "in-flight overflow")
	}
	id := Hash(o.Digest)
	if b.withdrawals[id] != nil { // only with a forged address; the receipt catches replays
		return nil, errorf(ErrNonceReused, "withdrawal %s exists", id)
	}
	c.account(o.From).Balance -= o.Amount
	w := &Withdrawal{ID: id, From: o.From, To: o.To, Amount: U64(o.Amount), Nonce: U64(o.Nonce),
		Status: WithdrawPending, CreatedAt: int64(now), Seq: b.nextSeq()}
	b.withdrawals[id] = w
	b.wByAddr[o.From] = append(b.wByAddr[o.From], id)
	b.open[id] = struct{}{}
	b.inFlight = inFlight
	b.dirtyW[id] = struct{}{}
	return c.remember(o.From, o.Nonce, o.Digest, w)
}

// WithdrawalMemo is the memo of a withdrawal's transaction: the withdrawal id in hex, so
// that anyone can match the chain with the ledger.
func WithdrawalMemo(id Hash) []byte { return []byte(id.String()) }

// BridgeSignTx records the signed transaction of a withdrawal before the bridge broadcasts
// it. Tx was decoded and its signature checked against its owner; the core checks that it
// pays exactly the withdrawal from the bridge. Attempt 1 is the first transaction; a later
// attempt replaces one that expired unincluded and must be stamped after it expired.
type BridgeSignTx struct {
	Signer     channel.Address
	Withdrawal Hash
	Attempt    uint32
	Tx         tron.SignedTx
	Raw        *tron.Raw
}

func (BridgeSignTx) readOnly() bool { return false }
func (o BridgeSignTx) apply(c *Core, now uint64) ([]byte, error) {
	if err := c.bridgeSigner(o.Signer); err != nil {
		return nil, err
	}
	w := c.bridge.withdrawals[o.Withdrawal]
	if w == nil {
		return nil, errorf(ErrNotFound, "withdrawal %s", o.Withdrawal)
	}
	txid := Hash(o.Tx.ID())
	if w.TxID == txid && w.Attempt == o.Attempt {
		return json.Marshal(w) // the same record again
	}
	t := &o.Raw.Transfer
	switch {
	case w.Status == WithdrawConfirmed:
		return nil, errorf(ErrChannelClosed, "withdrawal %s is confirmed", w.ID)
	case w.Status == WithdrawPending && o.Attempt != 1,
		w.Status == WithdrawSigned && o.Attempt != w.Attempt+1:
		return nil, errorf(ErrInvalid, "attempt %d of withdrawal %s (now at %d)", o.Attempt, w.ID, w.Attempt)
	case w.Status == WithdrawSigned && o.Raw.Timestamp <= w.Expiration:
		return nil, errorf(ErrInvalid, "a new transaction must be made after the previous one expired")
	case t.Owner != c.cfg.Bridge || t.To != w.To || t.Amount != int64(w.Amount) || t.Asset != tron.BTTAsset:
		return nil, errorf(ErrInvalid, "transaction does not pay withdrawal %s", w.ID)
	case !bytes.Equal(o.Raw.Data, WithdrawalMemo(w.ID)):
		return nil, errorf(ErrInvalid, "transaction memo is not the withdrawal id")
	}
	w.Status, w.Attempt, w.TxID, w.Expiration = WithdrawSigned, o.Attempt, txid, o.Raw.Expiration
	w.Tx = hex.EncodeToString(o.Tx.Raw) + hex.EncodeToString(o.Tx.Sig[:])
	c.bridge.dirtyW[w.ID] = struct{}{}
	return json.Marshal(w)
}

// BridgeConfirm marks a withdrawal's transaction as included on chain with the bridge's
// confirmations: its tokens move from in flight to outstanding on chain.
type BridgeConfirm struct {
	Signer     channel.Address
	Withdrawal Hash
	TxID       Hash
	Block      int64
}

func (BridgeConfirm) readOnly() bool { return false }
func (o BridgeConfirm) apply(c *Core, now uint64) ([]byte, error) {
	if err := c.bridgeSigner(o.Signer); err != nil {
		return nil, err
	}
	b := &c.bridge
	w := b.withdrawals[o.Withdrawal]
	switch {
	case w == nil:
		return nil, errorf(ErrNotFound, "withdrawal %s", o.Withdrawal)
	case w.Status == WithdrawConfirmed && w.TxID == o.TxID:
		return json.Marshal(w)
	case w.Status != WithdrawSigned || w.TxID != o.TxID:
		return nil, errorf(ErrInvalid, "withdrawal %s is %s with transaction %s", w.ID, w.Status, w.TxID)
	}
	exported, err := channel.AddAmounts(uint64(b.meta.Exported), uint64(w.Amount))
	if err != nil {
		return nil, errorf(ErrInvalid, "exported overflow")
	}
	w.Status, w.Block, w.DoneAt = WithdrawConfirmed, o.Block, int64(now)
	b.inFlight -= uint64(w.Amount)
	delete(b.open, w.ID)
	b.meta.Exported = U64(exported)
	b.dirtyMeta = true
	b.dirtyW[w.ID] = struct{}{}
	return json.Marshal(w)
}

// BridgeDeposit records an on-chain transfer to the bridge, included in Block with the
// bridge's confirmations. Tx was decoded and its signature checked against its owner; the
// core checks it pays the bridge in BTT and reads the ledger address from its memo. Each
// transaction is recorded once, whatever the number of reports.
type BridgeDeposit struct {
	Signer channel.Address
	Tx     tron.SignedTx
	Raw    *tron.Raw
	Block  int64
}

func (BridgeDeposit) readOnly() bool { return false }
func (o BridgeDeposit) apply(c *Core, now uint64) ([]byte, error) {
	if err := c.bridgeSigner(o.Signer); err != nil {
		return nil, err
	}
	b := &c.bridge
	txid := Hash(o.Tx.ID())
	if d := b.deposits[txid]; d != nil {
		return json.Marshal(d)
	}
	t := &o.Raw.Transfer
	if t.To != c.cfg.Bridge || t.Asset != tron.BTTAsset || t.Amount <= 0 {
		return nil, errorf(ErrInvalid, "transaction %s is not a BTT transfer to the bridge", txid)
	}
	memo := o.Raw.Data
	if len(memo) > maxMemo {
		memo = memo[:maxMemo]
	}
	d := &Deposit{TxID: txid, From: t.Owner, Amount: U64(t.Amount), Block: o.Block, Memo: hex.EncodeToString(memo),
		Status: DepositUnclaimed, At: int64(now), Seq: b.nextSeq()}
	if to, err := channel.ParseAddress(strings.TrimSpace(string(o.Raw.Data))); err == nil {
		d.To = to
		imported, err := channel.AddAmounts(uint64(b.meta.Imported), uint64(t.Amount))
		acc := c.accounts[to]
		switch {
		case err != nil || imported > uint64(b.meta.Exported):
			d.Status = DepositUnbacked
		case acc != nil && acc.Balance > math.MaxUint64-uint64(t.Amount):
			d.Status = DepositUnbacked
		default:
			d.Status = DepositCredited
			c.account(to).Balance += uint64(t.Amount)
			b.meta.Imported = U64(imported)
			b.dirtyMeta = true
		}
		b.dByAddr[to] = append(b.dByAddr[to], txid)
	}
	b.deposits[txid] = d
	b.dirtyD[txid] = struct{}{}
	return json.Marshal(d)
}

// BridgeScan records that the bridge has reported every deposit up to block Height (whose
// id is Hash). Heights only grow; the same report again changes nothing.
type BridgeScan struct {
	Signer channel.Address
	Height int64
	Hash   Hash
}

func (BridgeScan) readOnly() bool { return false }
func (o BridgeScan) apply(c *Core, _ uint64) ([]byte, error) {
	if err := c.bridgeSigner(o.Signer); err != nil {
		return nil, err
	}
	m := &c.bridge.meta
	switch {
	case o.Height == m.ScanHeight && o.Hash == m.ScanHash:
	case o.Height <= m.ScanHeight:
		return nil, errorf(ErrInvalid, "scan height %d is not above %d", o.Height, m.ScanHeight)
	default:
		m.ScanHeight, m.ScanHash = o.Height, o.Hash
		c.bridge.dirtyMeta = true
	}
	return json.Marshal(c.bridgeInfo(false))
}

func (c *Core) bridgeInfo(withOpen bool) BridgeInfo {
	b := &c.bridge
	in := BridgeInfo{Bridge: c.cfg.Bridge, Asset: tron.BTTAsset, InFlight: U64(b.inFlight), Exported: b.meta.Exported,
		Imported: b.meta.Imported, ScanHeight: b.meta.ScanHeight, ScanHash: b.meta.ScanHash, Open: []Withdrawal{}}
	if b.meta.Exported >= b.meta.Imported {
		in.OnChain = b.meta.Exported - b.meta.Imported
	}
	if withOpen {
		for id := range b.open {
			in.Open = append(in.Open, *b.withdrawals[id])
		}
		slices.SortFunc(in.Open, func(x, y Withdrawal) int { return cmp.Compare(x.Seq, y.Seq) })
		if len(in.Open) > maxBridgeListed {
			in.Open = in.Open[:maxBridgeListed]
		}
	}
	return in
}

// GetBridge describes the bridge's state, with the open withdrawals.
type GetBridge struct{}

func (GetBridge) readOnly() bool { return true }
func (GetBridge) apply(c *Core, _ uint64) ([]byte, error) {
	if c.cfg.Bridge.IsZero() {
		return nil, errorf(ErrNotFound, "this ledger has no bridge")
	}
	return json.Marshal(c.bridgeInfo(true))
}

// GetWithdrawal reads a withdrawal.
type GetWithdrawal struct{ ID Hash }

func (GetWithdrawal) readOnly() bool { return true }
func (o GetWithdrawal) apply(c *Core, _ uint64) ([]byte, error) {
	w := c.bridge.withdrawals[o.ID]
	if w == nil {
		return nil, errorf(ErrNotFound, "withdrawal %s", o.ID)
	}
	return json.Marshal(w)
}

// GetHistory lists an address's withdrawals and credited deposits.
type GetHistory struct{ Address channel.Address }

func (GetHistory) readOnly() bool { return true }
func (o GetHistory) apply(c *Core, _ uint64) ([]byte, error) {
	b := &c.bridge
	h := History{Withdrawals: []Withdrawal{}, Deposits: []Deposit{}}
	ws, ds := b.wByAddr[o.Address], b.dByAddr[o.Address]
	ws, ds = ws[max(0, len(ws)-maxBridgeListed):], ds[max(0, len(ds)-maxBridgeListed):]
	for _, id := range ws {
		h.Withdrawals = append(h.Withdrawals, *b.withdrawals[id])
	}
	for _, id := range ds {
		h.Deposits = append(h.Deposits, *b.deposits[id])
	}
	return json.Marshal(h)
}
