package tron

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/speedbt/btt/channel"
)

// BTTAsset is the TRC-10 token id of BTT on TRON main net (6 decimals, like the ledger's
// base unit: one ledger unit is one on-chain unit).
const BTTAsset = "1002000"

// TransferAssetTypeURL is the Any type URL of a TRC-10 transfer, and
// ContractTransferAsset its Transaction.Contract.ContractType number.
const (
	TransferAssetTypeURL  = "type.googleapis.com/protocol.TransferAssetContract"
	ContractTransferAsset = 2
)

// Field numbers, from java-tron's protocol/core/Tron.proto (Transaction.raw,
// Transaction.Contract), google/protobuf/any.proto and
// core/contract/asset_issue_contract.proto (TransferAssetContract).
const (
	rawRefBlockBytes = 1
	rawRefBlockNum   = 3
	rawRefBlockHash  = 4
	rawExpiration    = 8
	rawData          = 10
	rawContract      = 11
	rawTimestamp     = 14
	rawFeeLimit      = 18

	contractType         = 1
	contractParameter    = 2
	contractPermissionID = 5

	anyTypeURL = 1
	anyValue   = 2

	xferAssetName = 1
	xferOwner     = 2
	xferTo        = 3
	xferAmount    = 4
)

// Transfer is a TransferAssetContract: Amount units of the TRC-10 token Asset from Owner to To.
type Transfer struct {
	Asset  string
	Owner  channel.Address
	To     channel.Address
	Amount int64
}

// Raw is a Transaction.raw holding one TransferAssetContract. Times are Unix milliseconds.
type Raw struct {
	RefBlockBytes [2]byte // bytes 6..7 of the reference block's number (big-endian)
	RefBlockHash  [8]byte // bytes 8..15 of the reference block's id
	RefBlockNum   int64   // rarely set; kept so that such transactions decode losslessly
	Expiration    int64
	Timestamp     int64
	Data          []byte // the memo
	FeeLimit      int64  // only smart-contract calls pay it; zero (absent) for a transfer
	PermissionID  int32
	Transfer      Transfer
}

// MaxRawSize bounds the raw_data the decoder accepts. A transfer with a 512-byte memo is
// well under 1 KiB; TRON itself caps a transaction at 500 KB, far more than a transfer needs.
const MaxRawSize = 64 << 10

// RefBlock fills RefBlockBytes and RefBlockHash from a block's number and id, as TRON's
// TaPoS check expects.
func (r *Raw) RefBlock(num int64, id [32]byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(num))
	copy(r.RefBlockBytes[:], n[6:])
	copy(r.RefBlockHash[:], id[8:16])
}

func (t *Transfer) marshal() []byte {
	b := make([]byte, 0, 64+len(t.Asset))
	b = appendBytesField(b, xferAssetName, []byte(t.Asset))
	if !t.Owner.IsZero() {
		b = appendBytesField(b, xferOwner, t.Owner[:])
	}
	if !t.To.IsZero() {
		b = appendBytesField(b, xferTo, t.To[:])
	}
	return appendInt64Field(b, xferAmount, t.Amount)
}

// Marshal returns the protobuf bytes of raw_data, field by field in number order with
// proto3's default values omitted, as java-tron and tronweb serialise it.
func (r *Raw) Marshal() []byte {
	var anyMsg []byte
	anyMsg = appendBytesField(anyMsg, anyTypeURL, []byte(TransferAssetTypeURL))
	anyMsg = appendBytesField(anyMsg, anyValue, r.Transfer.marshal())
	var c []byte
	c = appendInt64Field(c, contractType, ContractTransferAsset)
	c = appendBytesField(c, contractParameter, anyMsg)
	c = appendInt64Field(c, contractPermissionID, int64(r.PermissionID))

	b := make([]byte, 0, 128+len(c)+len(r.Data))
	b = appendBytesField(b, rawRefBlockBytes, r.RefBlockBytes[:])
	b = appendInt64Field(b, rawRefBlockNum, r.RefBlockNum)
	b = appendBytesField(b, rawRefBlockHash, r.RefBlockHash[:])
	b = appendInt64Field(b, rawExpiration, r.Expiration)
	b = appendBytesField(b, rawData, r.Data)
	// contract is a repeated message: written even when empty.
	b = appendTag(b, rawContract, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(c)))
	b = append(b, c...)
	b = appendInt64Field(b, rawTimestamp, r.Timestamp)
	return appendInt64Field(b, rawFeeLimit, r.FeeLimit)
}

// TxID is SHA-256 of the raw_data bytes: the transaction id, and the digest that is signed.
func TxID(raw []byte) [32]byte { return sha256.Sum256(raw) }

// Errors of the decoder. ErrUnsupported is a well-formed transaction of another kind (a TRX
// transfer, a contract call, several contracts): not an error of the node, just not ours.
var (
	ErrUnsupported  = errors.New("tron: not a single TransferAssetContract")
	ErrNotCanonical = errors.New("tron: raw_data is not in canonical form")
)

// ParseRaw decodes raw_data holding one TransferAssetContract. It accepts only what Marshal
// writes, byte for byte (it re-encodes and compares): the transaction id is a hash of these
// bytes, so what was decoded is exactly what was signed.
func ParseRaw(b []byte) (*Raw, error) {
	if len(b) > MaxRawSize {
		return nil, fmt.Errorf("%w: raw_data of %d bytes", ErrProto, len(b))
	}
	r := &Raw{}
	contracts := 0
	err := parseFields(b, func(f field) error {
		switch {
		case f.num == rawRefBlockBytes && f.wire == wireBytes && len(f.bytes) == 2:
			copy(r.RefBlockBytes[:], f.bytes)
		case f.num == rawRefBlockHash && f.wire == wireBytes && len(f.bytes) == 8:
			copy(r.RefBlockHash[:], f.bytes)
		case f.num == rawRefBlockNum && f.wire == wireVarint:
			r.RefBlockNum = int64(f.value)
		case f.num == rawExpiration && f.wire == wireVarint:
			r.Expiration = int64(f.value)
		case f.num == rawTimestamp && f.wire == wireVarint:
			r.Timestamp = int64(f.value)
		case f.num == rawFeeLimit && f.wire == wireVarint:
			r.FeeLimit = int64(f.value)
		case f.num == rawData && f.wire == wireBytes:
			r.Data = append([]byte(nil), f.bytes...)
		case f.num == rawContract && f.wire == wireBytes:
			contracts++
			if contracts > 1 {
				return ErrUnsupported
			}
			return r.parseContract(f.bytes)
		default:
			return fmt.Errorf("%w: raw_data field %d (wire %d, %d bytes)", ErrUnsupported, f.num, f.wire, len(f.bytes))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if contracts != 1 {
		return nil, ErrUnsupported
	}
	if !bytes.Equal(r.Marshal(), b) {
		return nil, ErrNotCanonical
	}
	return r, nil
}

func (r *Raw) parseContract(b []byte) error {
	var typ uint64
	var param []byte
	err := parseFields(b, func(f field) error {
		switch {
		case f.num == contractType && f.wire == wireVarint:
			typ = f.value
		case f.num == contractParameter && f.wire == wireBytes:
			param = f.bytes
		case f.num == contractPermissionID && f.wire == wireVarint && f.value <= 1<<31-1:
			r.PermissionID = int32(f.value)
		default:
			return fmt.Errorf("%w: contract field %d", ErrUnsupported, f.num)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if typ != ContractTransferAsset {
		return fmt.Errorf("%w: contract type %d", ErrUnsupported, typ)
	}
	var url string
	var value []byte
	err = parseFields(param, func(f field) error {
		switch {
		case f.num == anyTypeURL && f.wire == wireBytes:
			url = string(f.bytes)
		case f.num == anyValue && f.wire == wireBytes:
			value = f.bytes
		default:
			return fmt.Errorf("%w: Any field %d", ErrProto, f.num)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if url != TransferAssetTypeURL {
		return fmt.Errorf("%w: type_url %.80q", ErrUnsupported, url)
	}
	t := &r.Transfer
	return parseFields(value, func(f field) error {
		switch {
		case f.num == xferAssetName && f.wire == wireBytes && len(f.bytes) <= 32:
			t.Asset = string(f.bytes)
		case (f.num == xferOwner || f.num == xferTo) && f.wire == wireBytes && len(f.bytes) == channel.AddressSize:
			// A main-net address starts with its prefix byte; the JSON form (hexAddress)
			// refuses any other, so the binary form must too or the two would disagree.
			if f.bytes[0] != channel.AddressPrefix {
				return fmt.Errorf("%w: address prefix %02x", ErrProto, f.bytes[0])
			}
			if f.num == xferOwner {
				t.Owner = channel.Address(f.bytes)
			} else {
				t.To = channel.Address(f.bytes)
			}
		case f.num == xferAmount && f.wire == wireVarint:
			t.Amount = int64(f.value)
		default:
			return fmt.Errorf("%w: TransferAssetContract field %d", ErrProto, f.num)
		}
		return nil
	})
}
