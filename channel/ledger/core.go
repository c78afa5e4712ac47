package ledger

import (
	"container/heap"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/speedbt/btt/channel"
)

// CoreConfig holds the rules of a ledger that are not stored with it.
type CoreConfig struct {
	// FaucetAmount is one faucet grant, in base units.
	FaucetAmount uint64
	// FaucetBits is the proof-of-work difficulty: leading zero bits of the request digest.
	FaucetBits int
	// FaucetPerAddress is how many grants one address may receive.
	FaucetPerAddress uint32
	// FaucetBudget caps the faucet's total payout over the ledger's life, whatever the
	// number of addresses: with it, the faucet cannot drain the treasury.
	FaucetBudget uint64
	// FaucetTarget is how many claims per FaucetHalfLife cost only FaucetBits; each
	// doubling of the claim rate above it adds a bit (faucet.go). 0 keeps the difficulty
	// fixed.
	FaucetTarget   uint32
	FaucetHalfLife time.Duration
	// FaucetSpentBits is how many times the work per claim doubles across the budget: a
	// claim needs floor(FaucetSpentBits * issued / FaucetBudget) more bits (faucet.go), so
	// that a drain at any pace costs core-years. 0 keeps the work flat.
	FaucetSpentBits int
	// MaxLifetime bounds a channel's expiry, so that a typo cannot lock funds for years.
	MaxLifetime time.Duration
	// ReceiptWindow is the idempotency window (see window.go): a signed request's nonce
	// carries its issue time, requests older than the window are refused, and receipts and
	// settled channels are dropped once the window has passed. 0 keeps everything forever
	// and accepts any nonce (the ledger of before).
	ReceiptWindow time.Duration
	// Bridge is the address of the TRON bridge's key (zero: no bridge, no withdrawals).
	Bridge channel.Address
}

// DefaultCoreConfig is a public ledger's configuration: 10 BTT per address once, after about
// 2^22 hashes (about half a core-second) while the budget is fresh, doubling with each 1/15 of
// it paid out, at most 1,000,000 BTT in total, channels up to 30 days.
var DefaultCoreConfig = CoreConfig{
	FaucetAmount:     10 * channel.UnitsPerBTT,
	FaucetBits:       22,
	FaucetPerAddress: 1,
	FaucetBudget:     1_000_000 * channel.UnitsPerBTT,
	FaucetTarget:     DefaultFaucetTarget,
	FaucetHalfLife:   DefaultFaucetHalfLife,
	FaucetSpentBits:  DefaultFaucetSpentBits,
	MaxLifetime:      30 * 24 * time.Hour,
	ReceiptWindow:    DefaultReceiptWindow,
}

type receiptKey struct {
	addr  channel.Address
	nonce uint64
}

// Core is the ledger's state machine. It is not safe for concurrent use: one goroutine (the
// Ledger's writer) owns it. Operations arrive authenticated (signatures verified, addresses
// derived); the core checks everything that depends on state.
type Core struct {
	cfg      CoreConfig
	meta     Meta
	accounts map[channel.Address]*AccountState
	channels map[channel.ChannelID]*Channel
	receipts map[receiptKey]*Receipt
	expiries expiryHeap
	window   windowState // receipts and settled channels in the order they expire
	bridge   bridgeState

	dirtyMeta     bool
	dirtyAccounts map[channel.Address]struct{}
	dirtyChannels map[channel.ChannelID]struct{}
	newReceipts   []Receipt
}

// Genesis returns the initial state of a new ledger: the whole supply in the treasury.
func Genesis(id channel.LedgerID, treasury channel.Address) *Data {
	return &Data{
		Meta:     &Meta{LedgerID: id, Treasury: treasury},
		Accounts: map[channel.Address]AccountState{treasury: {Balance: channel.GenesisSupply}},
	}
}

// ErrSupply means stored state breaks the supply invariant; the ledger refuses to start.
var ErrSupply = errors.New("ledger: stored balances and channels do not add up to the genesis supply")

// NewCore builds a core from loaded state and checks the supply invariant.
func NewCore(cfg CoreConfig, d *Data) (*Core, error) {
	if d.Meta == nil {
		return nil, errors.New("ledger: state has no meta (not initialised)")
	}
	c := &Core{
		cfg:           cfg,
		meta:          *d.Meta,
		accounts:      make(map[channel.Address]*AccountState, len(d.Accounts)),
		channels:      make(map[channel.ChannelID]*Channel, len(d.Channels)),
		receipts:      make(map[receiptKey]*Receipt, len(d.Receipts)),
		dirtyAccounts: map[channel.Address]struct{}{},
		dirtyChannels: map[channel.ChannelID]struct{}{},
	}
	for a, s := range d.Accounts {
		c.accounts[a] = &s
	}
	chans := append([]Channel(nil), d.Channels...)
	// Listings are newest last; the store may return channels in any order.
	sortChannels(chans)
	for i := range chans {
		ch := &chans[i]
		c.channels[ch.ID] = ch
		if ch.Status == StatusOpen {
			heap.Push(&c.expiries, expiryItem{at: uint64(ch.Expiry), id: ch.ID})
		}
	}
	for i := range d.Receipts {
		r := d.Receipts[i]
		c.receipts[receiptKey{r.Account, r.Nonce}] = &r
	}
	if err := c.bridge.load(d); err != nil {
		return nil, fmt.Errorf("%w: bridge records: %v", ErrSupply, err)
	}
	c.loadWindow(d)
	if t, err := c.supplyTotal(); err != nil || t != channel.GenesisSupply {
		return nil, fmt.Errorf("%w: total %d, want %d (%v)", ErrSupply, t, channel.GenesisSupply, err)
	}
	return c, nil
}

// ID returns the ledger id.
func (c *Core) ID() channel.LedgerID { return c.meta.LedgerID }

// Config returns the rules the core runs with.
func (c *Core) Config() CoreConfig { return c.cfg }

// Total returns the sum of all balances and open channel deposits. It equals
// channel.GenesisSupply after every operation as long as no token went through the bridge;
// SupplyTotal adds what did.
func (c *Core) Total() (uint64, error) {
	var t uint64
	var err error
	for _, a := range c.accounts {
		if t, err = channel.AddAmounts(t, a.Balance); err != nil {
			return 0, err
		}
	}
	for _, ch := range c.channels {
		if ch.Status == StatusOpen {
			if t, err = channel.AddAmounts(t, uint64(ch.Amount)); err != nil {
				return 0, err
			}
		}
	}
	return t, nil
}

// Op is one ledger operation. The set is closed: the types below.
type Op interface {
	apply(c *Core, now uint64) ([]byte, error)
	// readOnly ops change nothing; the Ledger answers them after the batch commits.
	readOnly() bool
}

// Apply runs op at time now and returns the JSON response body. An error leaves the state
// unchanged.
func (c *Core) Apply(now time.Time, op Op) ([]byte, error) {
	return op.apply(c, unixSeconds(now))
}

func unixSeconds(t time.Time) uint64 {
	if s := t.Unix(); s > 0 {
		return uint64(s)
	}
	return 0
}

// TakeChanges returns the changes since the last call, for Store.Commit.
func (c *Core) TakeChanges() *Data {
	d := &Data{Receipts: c.newReceipts}
	if c.dirtyMeta {
		m := c.meta
		d.Meta = &m
	}
	if len(c.dirtyAccounts) > 0 {
		d.Accounts = make(map[channel.Address]AccountState, len(c.dirtyAccounts))
		for a := range c.dirtyAccounts {
			d.Accounts[a] = *c.accounts[a]
		}
	}
	for id := range c.dirtyChannels {
		d.Channels = append(d.Channels, *c.channels[id])
	}
	d.ExpireReceipts, c.window.expireBefore = c.window.expireBefore, 0
	d.Archived, c.window.archived = c.window.archived, nil
	c.bridge.take(d)
	c.dirtyMeta = false
	c.newReceipts = nil
	clear(c.dirtyAccounts)
	clear(c.dirtyChannels)
	return d
}

func (c *Core) account(a channel.Address) *AccountState {
	s := c.accounts[a]
	if s == nil {
		s = &AccountState{}
		c.accounts[a] = s
	}
	c.dirtyAccounts[a] = struct{}{}
	return s
}

// replay looks up the receipt of (addr, nonce). found with a nil error means: answer body.
func (c *Core) replay(addr channel.Address, nonce uint64, digest [32]byte) (body []byte, found bool, err error) {
	r := c.receipts[receiptKey{addr, nonce}]
	if r == nil {
		return nil, false, nil
	}
	if r.Digest != digest {
		return nil, true, errorf(ErrNonceReused, "nonce %d of %s was used for another request", nonce, addr)
	}
	return r.Body, true, nil
}

func (c *Core) remember(addr channel.Address, nonce uint64, digest [32]byte, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return c.rememberBody(addr, nonce, digest, body), nil
}

// rememberBody is remember with the answer already encoded.
func (c *Core) rememberBody(addr channel.Address, nonce uint64, digest [32]byte, body []byte) []byte {
	r := Receipt{Account: addr, Nonce: nonce, Digest: digest, Body: body}
	c.receipts[receiptKey{addr, nonce}] = &r
	c.newReceipts = append(c.newReceipts, r)
	c.window.receipts.push(NonceTime(nonce), receiptKey{addr, nonce})
	return body
}

func (c *Core) accountView(a channel.Address) Account {
	s := c.accounts[a]
	if s == nil {
		return Account{Address: a}
	}
	return Account{Address: a, Balance: U64(s.Balance), FaucetClaims: s.FaucetClaims}
}

// CreateAccount answers the account of an address (signed by its key). It creates
// nothing: an account comes into being when it first receives tokens, so a fresh key costs
// the ledger no state (a signature is free to make). It stays an operation so that old
// clients keep working; the HTTP layer answers it from the committed view.
type CreateAccount struct {
	Address channel.Address
}

func (CreateAccount) readOnly() bool { return true }
func (o CreateAccount) apply(c *Core, _ uint64) ([]byte, error) {
	return json.Marshal(c.accountView(o.Address))
}

// Faucet grants CoreConfig.FaucetAmount from the treasury. Digest is the faucet request's
// digest; it must carry the work CoreConfig.FaucetDifficulty asks for now.
type Faucet struct {
	Address channel.Address
	Nonce   uint64
	Digest  [32]byte
}

func (Faucet) readOnly() bool { return false }
func (o Faucet) apply(c *Core, now uint64) ([]byte, error) {
	if body, found, err := c.replay(o.Address, o.Nonce, o.Digest); found {
		return body, err
	}
	if err := c.checkNonce(o.Nonce, now); err != nil {
		return nil, err
	}
	if got, need := LeadingZeroBits(o.Digest), c.cfg.faucetBits(&c.meta, now); got < need {
		return nil, errorf(ErrBadWork, "%d leading zero bits, need %d", got, need)
	}
	amt := c.cfg.FaucetAmount
	if s := c.accounts[o.Address]; s != nil && s.FaucetClaims >= c.cfg.FaucetPerAddress {
		return nil, errorf(ErrFaucetLimit, "%s already received %d grants", o.Address, s.FaucetClaims)
	}
	if o.Address == c.meta.Treasury {
		return nil, errorf(ErrInvalid, "the treasury cannot claim the faucet")
	}
	issued, err := channel.AddAmounts(c.meta.FaucetIssued, amt)
	if err != nil || issued > c.cfg.FaucetBudget {
		return nil, errorf(ErrFaucetLimit, "faucet budget exhausted")
	}
	tr := c.accounts[c.meta.Treasury]
	if tr == nil || tr.Balance < amt {
		return nil, errorf(ErrFaucetLimit, "treasury empty")
	}
	to := c.accounts[o.Address]
	if to != nil {
		if _, err := channel.AddAmounts(to.Balance, amt); err != nil {
			return nil, errorf(ErrInvalid, "balance overflow")
		}
	}
	c.account(c.meta.Treasury).Balance -= amt
	a := c.account(o.Address)
	a.Balance += amt
	a.FaucetClaims++
	c.meta.FaucetIssued = issued
	c.cfg.addClaim(&c.meta, now)
	c.dirtyMeta = true
	return c.remember(o.Address, o.Nonce, o.Digest, FaucetResult{Address: o.Address, Amount: U64(amt), Balance: U64(a.Balance)})
}

// Transfer moves Amount from From to To.
type Transfer struct {
	From, To channel.Address
	Amount   uint64
	Nonce    uint64
	Digest   [32]byte
}

func (Transfer) readOnly() bool { return false }
func (o Transfer) apply(c *Core, now uint64) ([]byte, error) {
	if body, found, err := c.replay(o.From, o.Nonce, o.Digest); found {
		return body, err
	}
	if err := c.checkNonce(o.Nonce, now); err != nil {
		return nil, err
	}
	switch {
	case o.Amount == 0:
		return nil, errorf(ErrInvalid, "amount is zero")
	case o.From == o.To:
		return nil, errorf(ErrInvalid, "transfer to self")
	case o.To[0] != channel.AddressPrefix:
		return nil, errorf(ErrInvalid, "bad destination address")
	}
	from := c.accounts[o.From]
	if from == nil || from.Balance < o.Amount {
		have := uint64(0)
		if from != nil {
			have = from.Balance
		}
		return nil, errorf(ErrInsufficientFunds, "balance %d, transfer %d", have, o.Amount)
	}
	if to := c.accounts[o.To]; to != nil {
		if _, err := channel.AddAmounts(to.Balance, o.Amount); err != nil {
			return nil, errorf(ErrInvalid, "destination balance overflow")
		}
	}
	c.account(o.From).Balance -= o.Amount
	c.account(o.To).Balance += o.Amount
	res := TransferResult{From: o.From, To: o.To, Amount: U64(o.Amount), Nonce: U64(o.Nonce), Balance: U64(from.Balance)}
	return c.rememberBody(o.From, o.Nonce, o.Digest, res.appendJSON(make([]byte, 0, 160))), nil
}

// OpenChannel moves Open.Amount from the payer's account into a new channel. The payer's
// signature over Open was verified; PayerAddress and PayeeAddress are the keys' addresses.
type OpenChannel struct {
	Open         channel.Open
	PayerAddress channel.Address
	PayeeAddress channel.Address
}

func (OpenChannel) readOnly() bool { return false }
func (o OpenChannel) apply(c *Core, now uint64) ([]byte, error) {
	m := &o.Open
	digest := m.Digest()
	if body, found, err := c.replay(o.PayerAddress, m.Nonce, digest); found {
		return body, err
	}
	if err := c.checkNonce(m.Nonce, now); err != nil {
		return nil, err
	}
	switch {
	case m.Ledger != c.meta.LedgerID:
		return nil, errorf(ErrInvalid, "open message is for ledger %s", m.Ledger)
	case m.Amount == 0:
		return nil, errorf(ErrInvalid, "amount is zero")
	case m.Payer == m.Payee:
		return nil, errorf(ErrInvalid, "payer and payee are the same key")
	case m.Expiry <= now:
		return nil, errorf(ErrExpired, "expiry %d is not after now (%d)", m.Expiry, now)
	case m.Expiry-now > uint64(c.cfg.MaxLifetime/time.Second):
		return nil, errorf(ErrInvalid, "expiry more than %v ahead", c.cfg.MaxLifetime)
	}
	id := channel.ChannelID(digest)
	if c.channels[id] != nil { // only reachable with a forged address; the receipt catches replays
		return nil, errorf(ErrNonceReused, "channel %s exists", id)
	}
	payer := c.accounts[o.PayerAddress]
	if payer == nil || payer.Balance < m.Amount {
		have := uint64(0)
		if payer != nil {
			have = payer.Balance
		}
		return nil, errorf(ErrInsufficientFunds, "balance %d, deposit %d", have, m.Amount)
	}
	c.account(o.PayerAddress).Balance -= m.Amount
	ch := &Channel{ID: id, Payer: m.Payer, Payee: m.Payee, PayerAddress: o.PayerAddress, PayeeAddress: o.PayeeAddress,
		Amount: U64(m.Amount), Nonce: U64(m.Nonce), Expiry: U64(m.Expiry), Status: StatusOpen, OpenedAt: int64(now)}
	c.channels[id] = ch
	c.dirtyChannels[id] = struct{}{}
	heap.Push(&c.expiries, expiryItem{at: m.Expiry, id: id})
	return c.remember(o.PayerAddress, m.Nonce, digest, ch)
}

// CloseChannel settles a channel: the voucher's cumulative amount to the payee, the rest
// back to the payer. Both signatures were verified against Payer and Payee; the core checks
// that those are the channel's keys and that the voucher obeys the channel rules.
type CloseChannel struct {
	Close        channel.Close
	Payer, Payee channel.PublicKey
}

func (CloseChannel) readOnly() bool { return false }
func (o CloseChannel) apply(c *Core, now uint64) ([]byte, error) {
	v := &o.Close.Voucher.Voucher
	ch := c.channels[v.Channel]
	if ch == nil {
		return nil, errorf(ErrNotFound, "channel %s", v.Channel)
	}
	digest := channel.CloseDigest(v)
	dhex := hex.EncodeToString(digest[:])
	if ch.Status != StatusOpen {
		if ch.Status == StatusClosed && ch.CloseDigest == dhex {
			return json.Marshal(ch) // the same close again: same answer, nothing applied
		}
		return nil, errorf(ErrChannelClosed, "channel %s is %s", ch.ID, ch.Status)
	}
	if o.Payer != ch.Payer || o.Payee != ch.Payee {
		return nil, errorf(ErrBadSignature, "keys do not match channel %s", ch.ID)
	}
	if err := channel.CheckVoucher(ch.State(), *v, time.Unix(int64(now), 0)); err != nil {
		if errors.Is(err, channel.ErrExpired) {
			return nil, errorf(ErrExpired, "%v", err)
		}
		return nil, errorf(ErrInvalid, "%v", err)
	}
	paid, refund := v.Cumulative, uint64(ch.Amount)-v.Cumulative
	for _, p := range []struct {
		a channel.Address
		n uint64
	}{{ch.PayeeAddress, paid}, {ch.PayerAddress, refund}} {
		if s := c.accounts[p.a]; s != nil {
			if _, err := channel.AddAmounts(s.Balance, p.n); err != nil {
				return nil, errorf(ErrInvalid, "balance overflow")
			}
		}
	}
	// Only an amount creates an account: a zero payout leaves an unfunded payee without one.
	if paid > 0 {
		c.account(ch.PayeeAddress).Balance += paid
	}
	if refund > 0 {
		c.account(ch.PayerAddress).Balance += refund
	}
	ch.Status, ch.ClosedAt, ch.Sequence, ch.Paid, ch.Refunded, ch.CloseDigest =
		StatusClosed, int64(now), U64(v.Sequence), U64(paid), U64(refund), dhex
	c.dirtyChannels[ch.ID] = struct{}{}
	c.window.settled.push(now, ch.ID)
	return json.Marshal(ch)
}

// Sweep refunds every open channel whose expiry has come, in full, to its payer.
type Sweep struct{}

func (Sweep) readOnly() bool { return false }
func (Sweep) apply(c *Core, now uint64) ([]byte, error) {
	n := 0
	for c.expiries.Len() > 0 && c.expiries[0].at <= now {
		it := heap.Pop(&c.expiries).(expiryItem)
		ch := c.channels[it.id]
		if ch == nil || ch.Status != StatusOpen {
			continue
		}
		// Cannot overflow: the deposit left this account, and the supply fits in 64 bits.
		c.account(ch.PayerAddress).Balance += uint64(ch.Amount)
		ch.Status, ch.ClosedAt, ch.Refunded = StatusExpired, int64(now), ch.Amount
		c.dirtyChannels[ch.ID] = struct{}{}
		c.window.settled.push(now, ch.ID)
		n++
	}
	c.expire(now)
	return json.Marshal(struct {
		Refunded int `json:"refunded"`
	}{n})
}

// GetAccount reads an account (a missing one reads as balance 0).
type GetAccount struct{ Address channel.Address }

func (GetAccount) readOnly() bool { return true }
func (o GetAccount) apply(c *Core, _ uint64) ([]byte, error) {
	return json.Marshal(c.accountView(o.Address))
}

// GetChannel reads a channel.
type GetChannel struct{ ID channel.ChannelID }

func (GetChannel) readOnly() bool { return true }
func (o GetChannel) apply(c *Core, _ uint64) ([]byte, error) {
	ch := c.channels[o.ID]
	if ch == nil {
		return nil, errorf(ErrNotFound, "channel %s", o.ID)
	}
	return json.Marshal(ch)
}

// GetInfo describes the ledger, recomputing the total (O(accounts + channels)).
type GetInfo struct{}

func (GetInfo) readOnly() bool { return true }
func (GetInfo) apply(c *Core, now uint64) ([]byte, error) {
	total, err := c.Total()
	if err != nil {
		return nil, err
	}
	open := 0
	for _, ch := range c.channels {
		if ch.Status == StatusOpen {
			open++
		}
	}
	left := uint64(0)
	if c.cfg.FaucetBudget > c.meta.FaucetIssued {
		left = c.cfg.FaucetBudget - c.meta.FaucetIssued
	}
	return json.Marshal(Info{LedgerID: c.meta.LedgerID, Treasury: c.meta.Treasury, Supply: U64(channel.GenesisSupply),
		Total: U64(total), Accounts: len(c.accounts), OpenChannels: open, FaucetBits: c.cfg.faucetBits(&c.meta, now),
		FaucetAmount: U64(c.cfg.FaucetAmount), FaucetLeft: U64(left)})
}

type expiryItem struct {
	at uint64
	id channel.ChannelID
}

type expiryHeap []expiryItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
