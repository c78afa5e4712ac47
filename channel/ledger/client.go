package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/channel"
)

// maxResponseBytes caps what the client reads from a ledger (a full channel listing is
// about 1000 x 700 bytes).
const maxResponseBytes = 4 << 20

// Client calls a ledger over HTTP. It is safe for concurrent use. The high-level methods
// pick a fresh random nonce per call; to retry an operation after a network error without
// risking a double spend, build the request once and resend it with Post.
//
// A client may know several URLs of one ledger (processes sharing a database, one of them
// the writer). It sends each request to the URL that answered last, and moves on to the
// next on a network error or a 502/503/504 (a standby answers writes with 503 not_writer),
// resending the same bytes: every write is a signed request with a nonce, applied at most
// once however often it arrives. With several URLs it keeps cycling, with a pause between
// rounds, for up to FailoverTimeout, long enough for a standby to take over.
type Client struct {
	bases []string
	hc    *http.Client
	cur   atomic.Int32 // index of the URL that answered last

	mu   sync.Mutex
	info *Info
}

// Failover settings. A takeover costs the standby's poll (0.2 s) plus loading the state;
// 15 s covers it with room (and is within the usual client timeouts).
const (
	FailoverTimeout = 15 * time.Second
	failoverPause   = 100 * time.Millisecond // between rounds over all URLs, doubled up to 1 s
	// MaxURLs bounds a URL list (it may come from a peer, inside a wire message).
	MaxURLs = 8
)

// NewClient returns a client for the ledger at base (e.g. "http://127.0.0.1:7000"), or at
// any of a comma-separated list of URLs of one ledger ("http://a:7000,http://b:7000"; at
// most MaxURLs are used). hc may be nil for http.DefaultClient.
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{hc: hc}
	for _, u := range strings.Split(base, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" && len(c.bases) < MaxURLs {
			c.bases = append(c.bases, u)
		}
	}
	if len(c.bases) == 0 {
		c.bases = []string{""}
	}
	return c
}

// ParseURLs checks a --ledger value: one http(s) URL or a comma-separated list of at most
// MaxURLs, and returns them.
func ParseURLs(s string) ([]string, error) {
	parts := strings.Split(s, ",")
	if len(parts) > MaxURLs {
		return nil, fmt.Errorf("ledger: %d URLs, at most %d", len(parts), MaxURLs)
	}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("ledger: %q is not an http(s) URL", p)
		}
		parts[i] = p
	}
	return parts, nil
}

// URLs returns the ledger URLs the client uses.
func (c *Client) URLs() []string { return slices.Clone(c.bases) }

// NewNonce returns a nonce for a signed request: its issue time (Unix seconds) in the high
// 32 bits, as the ledger's idempotency window requires (window.go), and 32 random bits.
func NewNonce() uint64 { return NonceAt(time.Now()) }

// NonceAt returns a nonce issued at t.
func NonceAt(t time.Time) uint64 {
	var b [4]byte
	rand.Read(b[:])
	return uint64(t.Unix())<<32 | uint64(binary.BigEndian.Uint32(b[:]))
}

// Post sends body as JSON to path and decodes the response into out. Ledger errors come
// back as *Error (errors.Is against ErrInsufficientFunds etc. works).
func (c *Client) Post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return c.call(ctx, http.MethodPost, path, b, out)
}

// Batch sends signed operations in one request (at most MaxBatchOps) and returns one result
// per operation; an error means the batch as a whole was refused or not answered, and then
// resending the same operations is safe.
func (c *Client) Batch(ctx context.Context, ops []BatchOp) ([]BatchResult, error) {
	var resp BatchResponse
	if err := c.Post(ctx, "/v1/batch", BatchRequest{Ops: ops}, &resp); err != nil {
		return nil, err
	}
	if len(resp.Results) != len(ops) {
		return nil, fmt.Errorf("ledger: batch of %d answered with %d results", len(ops), len(resp.Results))
	}
	return resp.Results, nil
}

// Get fetches path and decodes the response into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.call(ctx, http.MethodGet, path, nil, out)
}

// call sends the request to the current URL and fails over as the type comment says.
func (c *Client) call(ctx context.Context, method, path string, body []byte, out any) error {
	var deadline time.Time
	pause := failoverPause
	start := int(c.cur.Load())
	for i := 0; ; i++ {
		k := (start + i) % len(c.bases)
		err := c.roundTrip(ctx, method, c.bases[k]+path, body, out)
		if err == nil || !failover(err) || len(c.bases) == 1 || ctx.Err() != nil {
			if err == nil {
				c.cur.Store(int32(k))
			}
			return err
		}
		if (i+1)%len(c.bases) == 0 { // a whole round failed: wait for a takeover
			if deadline.IsZero() {
				deadline = time.Now().Add(FailoverTimeout)
			}
			if time.Now().After(deadline) {
				return err
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
		}
	}
}

// failover reports whether another URL may answer where this one did not.
func failover(err error) bool {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status == http.StatusBadGateway || e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout
	}
	return true // no answer, or one that did not decode: another process may do better
}

var errTooLarge = fmt.Errorf("ledger: response above %d bytes", maxResponseBytes)

func (c *Client) roundTrip(ctx context.Context, method, url string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return err
	}
	if len(b) > maxResponseBytes {
		return errTooLarge
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Code, e.Msg = "http_status", fmt.Sprintf("%s: %.200s", resp.Status, b)
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("ledger: decode response: %w", err)
	}
	return nil
}

// Info fetches the ledger's description (uncached).
func (c *Client) Info(ctx context.Context) (Info, error) {
	var in Info
	err := c.Get(ctx, "/v1/info", &in)
	if err == nil {
		c.mu.Lock()
		c.info = &in
		c.mu.Unlock()
	}
	return in, err
}

// LedgerID returns the ledger's id, fetched once.
func (c *Client) LedgerID(ctx context.Context) (channel.LedgerID, error) {
	c.mu.Lock()
	in := c.info
	c.mu.Unlock()
	if in != nil {
		return in.LedgerID, nil
	}
	i, err := c.Info(ctx)
	return i.LedgerID, err
}

// CreateAccount registers k's address.
func (c *Client) CreateAccount(ctx context.Context, k *channel.PrivateKey) (Account, error) {
	id, err := c.LedgerID(ctx)
	if err != nil {
		return Account{}, err
	}
	req := AccountRequest{Nonce: U64(NewNonce())}
	req.Sign(id, k)
	var a Account
	return a, c.Post(ctx, "/v1/accounts", &req, &a)
}

// Balance reads an account.
func (c *Client) Balance(ctx context.Context, a channel.Address) (Account, error) {
	var acc Account
	return acc, c.Get(ctx, "/v1/accounts/"+a.String(), &acc)
}

// Faucet solves the proof of work the ledger asks for and claims the starting balance. The
// difficulty follows the faucet's claim rate: when it rose while we worked (bad_work), the
// claim is solved again at the new one, up to three times.
func (c *Client) Faucet(ctx context.Context, k *channel.PrivateKey) (FaucetResult, error) {
	for attempt := 0; ; attempt++ {
		r, err := c.faucetOnce(ctx, k)
		if !errors.Is(err, ErrBadWork) || attempt == 2 {
			return r, err
		}
	}
}

func (c *Client) faucetOnce(ctx context.Context, k *channel.PrivateKey) (FaucetResult, error) {
	in, err := c.Info(ctx)
	if err != nil {
		return FaucetResult{}, err
	}
	req := FaucetRequest{Nonce: U64(NewNonce())}
	const chunk = 1 << 16
	found := false
	for start := uint64(0); !found; start += chunk {
		if err := ctx.Err(); err != nil {
			return FaucetResult{}, err
		}
		if start > 1<<40 {
			return FaucetResult{}, fmt.Errorf("ledger: no proof of work found for %d bits", in.FaucetBits)
		}
		// Solve counts from zero; shift the nonce space by using a fresh nonce per chunk.
		req.Nonce = U64(NewNonce())
		found = req.Solve(in.LedgerID, k, in.FaucetBits, chunk)
	}
	var r FaucetResult
	return r, c.Post(ctx, "/v1/faucet", &req, &r)
}

// Transfer moves amount base units from k's account to to.
func (c *Client) Transfer(ctx context.Context, k *channel.PrivateKey, to channel.Address, amount uint64) (TransferResult, error) {
	id, err := c.LedgerID(ctx)
	if err != nil {
		return TransferResult{}, err
	}
	req := TransferRequest{To: to, Amount: U64(amount), Nonce: U64(NewNonce())}
	req.Sign(id, k)
	var r TransferResult
	return r, c.Post(ctx, "/v1/transfers", &req, &r)
}

// OpenChannel locks amount from payer's account into a channel towards payee until expiry.
func (c *Client) OpenChannel(ctx context.Context, payer *channel.PrivateKey, payee channel.PublicKey, amount uint64, expiry time.Time) (Channel, error) {
	id, err := c.LedgerID(ctx)
	if err != nil {
		return Channel{}, err
	}
	req := OpenRequest{Payee: payee, Amount: U64(amount), Nonce: U64(NewNonce()), Expiry: U64(expiry.Unix())}
	req.Sign(id, payer)
	var ch Channel
	return ch, c.Post(ctx, "/v1/channels", &req, &ch)
}

// Channel fetches a channel. A provider calls it the first time it sees a channel id and
// compares payer, payee, amount and expiry with what the requester claimed.
func (c *Client) Channel(ctx context.Context, id channel.ChannelID) (Channel, error) {
	var ch Channel
	return ch, c.Get(ctx, "/v1/channels/"+id.String(), &ch)
}

// maxChannelsListed bounds what Channels gathers over all pages.
const maxChannelsListed = 100_000

// Channels lists the channels where a is payer or payee, oldest first, following the pages.
func (c *Client) Channels(ctx context.Context, a channel.Address) ([]Channel, error) {
	var all []Channel
	after := ""
	for {
		l, err := c.ChannelsPage(ctx, a, after, 0)
		if err != nil {
			return all, err
		}
		all = append(all, l.Channels...)
		if l.Next == "" || len(l.Channels) == 0 {
			return all, nil
		}
		if len(all) >= maxChannelsListed {
			return all, fmt.Errorf("ledger: %s has more than %d channels", a, maxChannelsListed)
		}
		after = l.Next
	}
}

// ChannelsPage fetches one page of a's channels after the cursor ("" for the first page);
// limit 0 asks for the server's maximum (MaxPage).
func (c *Client) ChannelsPage(ctx context.Context, a channel.Address, after string, limit int) (ChannelList, error) {
	q := url.Values{"address": {a.String()}}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var l ChannelList
	err := c.Get(ctx, "/v1/channels?"+q.Encode(), &l)
	return l, err
}

// CloseChannel settles a channel on the last voucher the payee holds, counter-signing it
// with the payee's key. payer is the channel's payer key.
func (c *Client) CloseChannel(ctx context.Context, payee *channel.PrivateKey, payer channel.PublicKey, v channel.SignedVoucher) (Channel, error) {
	cl := channel.SignClose(payee, v)
	req := NewCloseRequest(payer, payee.Public(), cl)
	var ch Channel
	return ch, c.Post(ctx, "/v1/channels/"+v.Channel.String()+"/close", &req, &ch)
}

// ErrMismatch is returned by ChannelState when the ledger's channel is not the one the
// payer claimed (another payee, or different terms).
var ErrMismatch = errors.New("ledger: channel on the ledger does not match the claim")

// ChannelState fetches a channel for a provider that is about to accept vouchers on it:
// the channel must exist, be open, and pay payee. The returned state is what
// channel.Validate needs (no voucher accepted yet). Compare the deposit and expiry with what
// the requester claimed before serving on credit.
func (c *Client) ChannelState(ctx context.Context, id channel.ChannelID, payee channel.PublicKey) (channel.State, error) {
	ch, err := c.Channel(ctx, id)
	if err != nil {
		return channel.State{}, err
	}
	if ch.ID != id || ch.Payee != payee {
		return channel.State{}, fmt.Errorf("%w: channel %s pays %s, not %s", ErrMismatch, id, ch.PayeeAddress, payee.Address())
	}
	if ch.Status != StatusOpen {
		return channel.State{}, errorf(ErrChannelClosed, "channel %s is %s", id, ch.Status)
	}
	return ch.State(), nil
}
