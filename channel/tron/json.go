package tron

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/speedbt/btt/channel"
)

// The JSON forms below are those of java-tron's HTTP API with "visible": false: bytes in
// hex, addresses as hex with the 0x41 prefix, integers as JSON numbers.

// TxJSON is a transaction as the HTTP API reads (/wallet/broadcasttransaction) and writes it
// (blocks, /wallet/gettransactionbyid).
type TxJSON struct {
	Visible    bool            `json:"visible"`
	TxID       string          `json:"txID"`
	RawData    json.RawMessage `json:"raw_data,omitempty"`
	RawDataHex string          `json:"raw_data_hex"`
	Signature  []string        `json:"signature,omitempty"`
	Ret        []TxRet         `json:"ret,omitempty"`
}

// TxRet is a transaction's execution result inside a block ("SUCCESS" when it went through).
type TxRet struct {
	ContractRet string `json:"contractRet,omitempty"`
}

type rawJSON struct {
	Contract      []contractJSON `json:"contract"`
	RefBlockBytes string         `json:"ref_block_bytes"`
	RefBlockNum   int64          `json:"ref_block_num,omitempty"`
	RefBlockHash  string         `json:"ref_block_hash"`
	Expiration    int64          `json:"expiration"`
	Timestamp     int64          `json:"timestamp,omitempty"`
	Data          string         `json:"data,omitempty"`
	FeeLimit      int64          `json:"fee_limit,omitempty"`
}

type contractJSON struct {
	Parameter    parameterJSON `json:"parameter"`
	Type         string        `json:"type"`
	PermissionID int32         `json:"Permission_id,omitempty"`
}

type parameterJSON struct {
	Value   transferJSON `json:"value"`
	TypeURL string       `json:"type_url"`
}

type transferJSON struct {
	Amount       int64  `json:"amount"`
	AssetName    string `json:"asset_name"`
	OwnerAddress string `json:"owner_address"`
	ToAddress    string `json:"to_address"`
}

// MarshalJSON writes raw_data as the HTTP API does.
func (r *Raw) MarshalJSON() ([]byte, error) {
	j := rawJSON{
		Contract: []contractJSON{{
			Parameter: parameterJSON{
				Value: transferJSON{Amount: r.Transfer.Amount, AssetName: hex.EncodeToString([]byte(r.Transfer.Asset)),
					OwnerAddress: hex.EncodeToString(r.Transfer.Owner[:]), ToAddress: hex.EncodeToString(r.Transfer.To[:])},
				TypeURL: TransferAssetTypeURL,
			},
			Type:         "TransferAssetContract",
			PermissionID: r.PermissionID,
		}},
		RefBlockBytes: hex.EncodeToString(r.RefBlockBytes[:]),
		RefBlockNum:   r.RefBlockNum,
		RefBlockHash:  hex.EncodeToString(r.RefBlockHash[:]),
		Expiration:    r.Expiration,
		Timestamp:     r.Timestamp,
		Data:          hex.EncodeToString(r.Data),
		FeeLimit:      r.FeeLimit,
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads raw_data as the HTTP API writes it (one TransferAssetContract).
func (r *Raw) UnmarshalJSON(b []byte) error {
	var j rawJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("%w: raw_data: %v", ErrProto, err)
	}
	if len(j.Contract) != 1 || j.Contract[0].Type != "TransferAssetContract" || j.Contract[0].Parameter.TypeURL != TransferAssetTypeURL {
		return ErrUnsupported
	}
	var out Raw
	v := j.Contract[0].Parameter.Value
	asset, err := hex.DecodeString(v.AssetName)
	if err != nil || len(asset) > 32 {
		return fmt.Errorf("%w: asset_name", ErrProto)
	}
	out.Transfer = Transfer{Asset: string(asset), Amount: v.Amount}
	if out.Transfer.Owner, err = hexAddress(v.OwnerAddress); err != nil {
		return err
	}
	if out.Transfer.To, err = hexAddress(v.ToAddress); err != nil {
		return err
	}
	if err := hexFixed(out.RefBlockBytes[:], j.RefBlockBytes); err != nil {
		return err
	}
	if err := hexFixed(out.RefBlockHash[:], j.RefBlockHash); err != nil {
		return err
	}
	if out.Data, err = hex.DecodeString(j.Data); err != nil {
		return fmt.Errorf("%w: data: %v", ErrProto, err)
	}
	if len(out.Data) == 0 {
		out.Data = nil
	}
	out.RefBlockNum, out.Expiration, out.Timestamp, out.FeeLimit = j.RefBlockNum, j.Expiration, j.Timestamp, j.FeeLimit
	out.PermissionID = j.Contract[0].PermissionID
	*r = out
	return nil
}

func hexFixed(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%w: hex field of length %d, want %d", ErrProto, len(s), 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("%w: %v", ErrProto, err)
	}
	return nil
}

// hexAddress reads a 21-byte address in hex (41...).
func hexAddress(s string) (channel.Address, error) {
	var a channel.Address
	if err := hexFixed(a[:], strings.TrimPrefix(s, "0x")); err != nil {
		return a, err
	}
	if a[0] != channel.AddressPrefix {
		return channel.Address{}, fmt.Errorf("%w: address prefix %02x", ErrProto, a[0])
	}
	return a, nil
}

// JSON returns the transaction in the form /wallet/broadcasttransaction takes.
func (t *SignedTx) JSON() (*TxJSON, error) {
	r, err := ParseRaw(t.Raw)
	if err != nil {
		return nil, err
	}
	rj, err := r.MarshalJSON()
	if err != nil {
		return nil, err
	}
	id := t.ID()
	return &TxJSON{TxID: hex.EncodeToString(id[:]), RawData: rj, RawDataHex: hex.EncodeToString(t.Raw),
		Signature: []string{hex.EncodeToString(t.Sig[:])}}, nil
}

// Decode checks a transaction as the API writes it and returns its signed form: raw_data_hex
// must hash to txID and, when raw_data is present, describe the same transaction. It does
// not check the signature (Verify does).
func (j *TxJSON) Decode() (*SignedTx, *Raw, error) {
	if len(j.RawDataHex) > 2*MaxRawSize {
		return nil, nil, fmt.Errorf("%w: raw_data_hex of %d characters", ErrProto, len(j.RawDataHex))
	}
	raw, err := hex.DecodeString(j.RawDataHex)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: raw_data_hex: %v", ErrProto, err)
	}
	id := TxID(raw)
	if !strings.EqualFold(j.TxID, hex.EncodeToString(id[:])) {
		return nil, nil, fmt.Errorf("%w: txID %.70q is not SHA-256 of raw_data", ErrProto, j.TxID)
	}
	r, err := ParseRaw(raw)
	if err != nil {
		return nil, nil, err
	}
	if len(j.RawData) > 0 {
		var fromJSON Raw
		if err := fromJSON.UnmarshalJSON(j.RawData); err != nil {
			return nil, nil, err
		}
		if string(fromJSON.Marshal()) != string(raw) {
			return nil, nil, fmt.Errorf("%w: raw_data and raw_data_hex differ", ErrProto)
		}
	}
	if len(j.Signature) != 1 {
		return nil, nil, fmt.Errorf("%w: %d signatures, want 1", ErrBadSignature, len(j.Signature))
	}
	var st SignedTx
	st.Raw = raw
	if err := hexFixed(st.Sig[:], j.Signature[0]); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return &st, r, nil
}
