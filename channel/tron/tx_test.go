package tron

import (
	"bytes"
	"errors"
	"testing"

	"github.com/speedbt/btt/channel"
)

func TestRoundTrip(t *testing.T) {
	for i, rt := range refTable(t) {
		r := rt.Raw
		st := NewSignedTx(&r, rt.key)
		got, err := st.Verify()
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(got.Marshal(), st.Raw) || got.Transfer != r.Transfer || got.Expiration != r.Expiration {
			t.Fatalf("case %d: decoded %+v, want %+v", i, got, r)
		}
		j, err := st.JSON()
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := j.Decode()
		if err != nil || !bytes.Equal(back.Raw, st.Raw) || back.Sig != st.Sig {
			t.Fatalf("case %d: JSON round trip: %v", i, err)
		}
	}
}

func TestBadInput(t *testing.T) {
	k, _ := channel.GenerateKey()
	other, _ := channel.GenerateKey()
	r := Raw{Expiration: 2, Timestamp: 1, Data: []byte("x"),
		Transfer: Transfer{Asset: BTTAsset, Owner: k.Address(), To: other.Address(), Amount: 5}}
	st := NewSignedTx(&r, k)

	forged := st
	forged.Sig = Sign(other, st.ID())
	if _, err := forged.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("signature by another key: %v", err)
	}
	for i := range st.Raw {
		cut := SignedTx{Raw: st.Raw[:i], Sig: st.Sig}
		if _, err := cut.Verify(); err == nil {
			t.Errorf("truncated to %d bytes: accepted", i)
		}
	}
	// A field with a zero length is valid protobuf but not what a serialiser writes.
	padded := append(append([]byte(nil), st.Raw...), 0x50, 0x00) // field 10 (data), empty
	if _, err := ParseRaw(padded); err == nil {
		t.Error("duplicate data field accepted")
	}
	j, _ := st.JSON()
	j.TxID = j.TxID[:62] + "00"
	if _, _, err := j.Decode(); !errors.Is(err, ErrProto) {
		t.Errorf("txID that is not the hash: %v", err)
	}
	j, _ = st.JSON()
	r2 := r
	r2.Transfer.Amount = 6
	j.RawData, _ = r2.MarshalJSON()
	if _, _, err := j.Decode(); !errors.Is(err, ErrProto) {
		t.Errorf("raw_data that differs from raw_data_hex: %v", err)
	}
}
