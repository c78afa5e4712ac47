package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

// A batch's changes (ledger.Data) as one log record's payload: a sequence of sections, each a
// tag byte and its contents, in the order below; absent parts are left out. Accounts and
// receipts, the bulk of every batch, are fixed binary; the rare parts (meta, channels, the
// bridge's records) are the same JSON the buckets hold. Integers are big-endian; counts and
// lengths are uvarints, checked against the bytes left before anything is allocated.
const (
	secMeta        = 1 // JSON
	secAccounts    = 2 // count, then address (21) | balance (8) | faucet claims (4)
	secChannels    = 3 // count, then per channel: length, JSON
	secReceipts    = 4 // count, then address (21) | nonce (8) | digest (32) | length | body
	secExpire      = 5 // cutoff (8)
	secArchived    = 6 // count, then channel id (32)
	secBridgeMeta  = 7 // JSON
	secWithdrawals = 8 // count, then per withdrawal: length, JSON
	secDeposits    = 9 // count, then per deposit: length, JSON
)

const (
	recAccountSize = channel.AddressSize + accountSize
	recReceiptMin  = receiptHeadSize + 1 // head and a body length of at least one byte
)

// errRecord is what a payload that does not decode returns (wrapped with where).
var errRecord = errors.New("boltstore: bad log record")

// appendRecord appends d's encoding to b.
func appendRecord(b []byte, d *ledger.Data) ([]byte, error) {
	var err error
	if d.Meta != nil {
		if b, err = appendJSON(append(b, secMeta), d.Meta); err != nil {
			return nil, err
		}
	}
	if len(d.Accounts) > 0 {
		b = binary.AppendUvarint(append(b, secAccounts), uint64(len(d.Accounts)))
		for a, st := range d.Accounts {
			b = append(b, a[:]...)
			b = binary.BigEndian.AppendUint64(b, st.Balance)
			b = binary.BigEndian.AppendUint32(b, st.FaucetClaims)
		}
	}
	if b, err = appendJSONs(b, secChannels, d.Channels); err != nil {
		return nil, err
	}
	if len(d.Receipts) > 0 {
		b = binary.AppendUvarint(append(b, secReceipts), uint64(len(d.Receipts)))
		for _, r := range d.Receipts {
			b = append(b, r.Account[:]...)
			b = binary.BigEndian.AppendUint64(b, r.Nonce)
			b = append(b, r.Digest[:]...)
			b = append(binary.AppendUvarint(b, uint64(len(r.Body))), r.Body...)
		}
	}
	if d.ExpireReceipts != 0 {
		b = binary.BigEndian.AppendUint64(append(b, secExpire), d.ExpireReceipts)
	}
	if len(d.Archived) > 0 {
		b = binary.AppendUvarint(append(b, secArchived), uint64(len(d.Archived)))
		for _, id := range d.Archived {
			b = append(b, id[:]...)
		}
	}
	if d.Bridge != nil {
		if b, err = appendJSON(append(b, secBridgeMeta), d.Bridge); err != nil {
			return nil, err
		}
	}
	if b, err = appendJSONs(b, secWithdrawals, d.Withdrawals); err != nil {
		return nil, err
	}
	if b, err = appendJSONs(b, secDeposits, d.Deposits); err != nil {
		return nil, err
	}
	return b, nil
}

// appendJSONs appends a section of JSON elements; none, no section.
func appendJSONs[T any](b []byte, tag byte, xs []T) ([]byte, error) {
	if len(xs) == 0 {
		return b, nil
	}
	b = binary.AppendUvarint(append(b, tag), uint64(len(xs)))
	for i := range xs {
		var err error
		if b, err = appendJSON(b, &xs[i]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(binary.AppendUvarint(b, uint64(len(j))), j...), nil
}

// decodeRecord decodes a payload made by appendRecord. It refuses sections out of order or
// repeated, counts larger than the bytes left could hold, and trailing bytes.
func decodeRecord(p []byte) (*ledger.Data, error) {
	d := &ledger.Data{}
	r := recReader{b: p}
	last := byte(0)
	for len(r.b) > 0 && r.err == nil {
		tag := r.b[0]
		r.b = r.b[1:]
		if tag <= last || tag > secDeposits {
			return nil, fmt.Errorf("%w: section %d after %d", errRecord, tag, last)
		}
		last = tag
		switch tag {
		case secMeta:
			d.Meta = new(ledger.Meta)
			r.json(d.Meta)
		case secAccounts:
			n := r.count(recAccountSize)
			d.Accounts = make(map[channel.Address]ledger.AccountState, n)
			for range n {
				b := r.take(recAccountSize)
				d.Accounts[channel.Address(b)] = ledger.AccountState{
					Balance:      binary.BigEndian.Uint64(b[channel.AddressSize:]),
					FaucetClaims: binary.BigEndian.Uint32(b[channel.AddressSize+8:]),
				}
			}
			if len(d.Accounts) != n {
				return nil, fmt.Errorf("%w: an account twice", errRecord)
			}
		case secChannels:
			d.Channels = readJSONs[ledger.Channel](&r)
		case secReceipts:
			d.Receipts = make([]ledger.Receipt, r.count(recReceiptMin))
			for i := range d.Receipts {
				h := r.take(receiptHeadSize)
				rc := &d.Receipts[i]
				rc.Account = channel.Address(h)
				rc.Nonce = binary.BigEndian.Uint64(h[channel.AddressSize:])
				copy(rc.Digest[:], h[channel.AddressSize+8:])
				rc.Body = r.bytes()
			}
		case secExpire:
			if d.ExpireReceipts = binary.BigEndian.Uint64(r.take(8)); r.err == nil && d.ExpireReceipts == 0 {
				return nil, fmt.Errorf("%w: expiry cutoff 0", errRecord)
			}
		case secArchived:
			d.Archived = make([]channel.ChannelID, r.count(len(channel.ChannelID{})))
			for i := range d.Archived {
				d.Archived[i] = channel.ChannelID(r.take(len(channel.ChannelID{})))
			}
		case secBridgeMeta:
			d.Bridge = new(ledger.BridgeMeta)
			r.json(d.Bridge)
		case secWithdrawals:
			d.Withdrawals = readJSONs[ledger.Withdrawal](&r)
		case secDeposits:
			d.Deposits = readJSONs[ledger.Deposit](&r)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return d, nil
}

// recReader reads a payload; the first error sticks, and later reads return zero values
// of the right size so that callers need not check after every field.
type recReader struct {
	b   []byte
	err error
}

func (r *recReader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{errRecord}, a...)...)
	}
	r.b = nil
}

func (r *recReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads an element count and checks that the bytes left can hold that many elements
// of at least min bytes each.
func (r *recReader) count(min int) int {
	n := r.uvarint()
	if n == 0 || n > uint64(len(r.b)/min) || n > math.MaxInt32 {
		r.fail("count %d with %d bytes left", n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *recReader) take(n int) []byte {
	if len(r.b) < n {
		r.fail("%d bytes wanted, %d left", n, len(r.b))
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// bytes reads a length and that many bytes, copied: the payload's buffer is reused.
func (r *recReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("length %d with %d bytes left", n, len(r.b))
		return nil
	}
	return append([]byte(nil), r.take(int(n))...)
}

// readJSONs reads a section made by appendJSONs (after its tag).
func readJSONs[T any](r *recReader) []T {
	xs := make([]T, r.count(2)) // an element is at least a length byte and "{}"
	for i := range xs {
		r.json(&xs[i])
	}
	return xs
}

func (r *recReader) json(v any) {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("length %d with %d bytes left", n, len(r.b))
		return
	}
	if err := json.Unmarshal(r.take(int(n)), v); err != nil {
		r.fail("%v", err)
	}
}
