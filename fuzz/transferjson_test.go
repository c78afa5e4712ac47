package fuzz

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

// strictDecodeAll is strictDecode plus the server's check that nothing follows the object.
func strictDecodeAll(in []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(in)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// FuzzTransferDecode checks ledger.ParseTransferRequest, which reads the common form of a
// transfer by hand, against encoding/json's strict decoding: the same bodies are accepted,
// with the same values, and the same are refused, with encoding/json's message.
func FuzzTransferDecode(f *testing.F) {
	id := channel.LedgerID{7}
	k, payee := fuzzKey(1), fuzzKey(2)
	tr := ledger.TransferRequest{To: payee.Address(), Amount: 5, Nonce: 9}
	tr.Sign(id, k)
	b, _ := json.Marshal(&tr)
	f.Add(b)
	for _, s := range []string{
		`{}`, ` { } `, `{"amount":12,"nonce":"34"}`, `{"amount":012}`, `{"amount":1.5}`, `{"amount":-1}`,
		`{"amount":"1","amount":"2"}`, `{"Amount":"1"}`, `{"to":"T\u0041"}`, `{"sig":null}`, `{"pubkey":""}`,
		`{"amount":"18446744073709551616"}`, `{"amount":1}x`, `{"amount":1} {}`, `{"amount":1,}`, `{"x":1}`,
		"{\"amount\":\t1\n}\r\n", `{"amount":"1e3"}`, `{"pubkey":"` + k.Public().String() + `","to":"` + payee.Address().String() + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var got, want ledger.TransferRequest
		err := ledger.ParseTransferRequest(in, &got)
		wantErr := strictDecodeAll(in, &want)
		switch {
		case (err == nil) != (wantErr == nil):
			t.Fatalf("%q: ParseTransferRequest %v, encoding/json %v", in, err, wantErr)
		case err == nil && got != want:
			t.Fatalf("%q: ParseTransferRequest %+v, encoding/json %+v", in, got, want)
		case err != nil && (!errors.Is(err, ledger.ErrBadRequest) || !strings.Contains(err.Error(), wantErr.Error())):
			t.Fatalf("%q: ParseTransferRequest %v, encoding/json %v", in, err, wantErr)
		}
	})
}
