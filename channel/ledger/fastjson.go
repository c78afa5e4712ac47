package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// The transfer is the ledger's most frequent request, and encoding/json (reflection, a
// Decoder with its own buffer, a second pass for the trailing-data check) cost about a tenth
// of the server's CPU per transfer. ParseTransferRequest reads the form every client sends
// by hand and leaves everything else to encoding/json, so both accept and refuse exactly
// the same bodies (a differential fuzz target, fuzz.FuzzTransferDecode, checks it).

// ParseTransferRequest decodes the body of POST /v1/transfers as the server does: one JSON
// object, no unknown fields, nothing after it. The error is a *Error (bad_request).
func ParseTransferRequest(b []byte, req *TransferRequest) error {
	if parseTransferFast(b, req) {
		return nil
	}
	*req = TransferRequest{}
	return decodeBytes(b, req)
}

// parseTransferFast reads an object whose keys are exactly the field names, each at most
// once, with string values free of escapes and control or non-ASCII bytes, and amount and
// nonce as such strings or as digits. It reports false, having perhaps filled part of req,
// for anything else, or when a field's own decoder refuses the value: encoding/json then
// decides, with its own error message.
func parseTransferFast(b []byte, req *TransferRequest) bool {
	s := scanner{b: b}
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return s.end()
	}
	var seen uint8
	for {
		key, ok := s.str()
		if !ok || !s.next(':') {
			return false
		}
		var bit uint8
		var err error
		switch string(key) {
		case "pubkey":
			bit = 1
			err = s.text(req.PubKey.UnmarshalText)
		case "to":
			bit = 2
			err = s.text(req.To.UnmarshalText)
		case "amount":
			bit = 4
			err = s.integer(&req.Amount)
		case "nonce":
			bit = 8
			err = s.integer(&req.Nonce)
		case "sig":
			bit = 16
			err = s.text(req.Sig.UnmarshalText)
		default:
			return false
		}
		if err != nil || seen&bit != 0 {
			return false
		}
		seen |= bit
		if s.next(',') {
			continue
		}
		return s.next('}') && s.end()
	}
}

// errSlow sends a value to encoding/json.
var errSlow = errors.New("ledger: not the simple form")

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c after optional white space.
func (s *scanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// quoted returns a simple string's bytes with their quotes.
func (s *scanner) quoted() ([]byte, bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			q := s.b[s.i : j+1]
			s.i = j + 1
			return q, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// str returns a simple string's contents.
func (s *scanner) str() ([]byte, bool) {
	q, ok := s.quoted()
	if !ok {
		return nil, false
	}
	return q[1 : len(q)-1], true
}

// text hands a simple string's contents to a field's UnmarshalText, as encoding/json does.
func (s *scanner) text(unmarshal func([]byte) error) error {
	v, ok := s.str()
	if !ok {
		return errSlow
	}
	return unmarshal(v)
}

// integer hands a simple string (with its quotes) or a run of digits to U64.UnmarshalJSON, as
// encoding/json does.
func (s *scanner) integer(n *U64) error {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '"' {
		q, ok := s.quoted()
		if !ok {
			return errSlow
		}
		return n.UnmarshalJSON(q)
	}
	j := s.i
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		j++
	}
	if j == s.i {
		return errSlow
	}
	v := s.b[s.i:j]
	s.i = j
	return n.UnmarshalJSON(v)
}

// readBody reads a request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	n := int64(512)
	if r.ContentLength >= 0 && r.ContentLength < limit {
		n = r.ContentLength + 1 // room for the read that sees the end
	}
	b := make([]byte, 0, n)
	body := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		switch {
		case err == io.EOF:
			return b, nil
		case err != nil:
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return nil, errorf(ErrTooLarge, "body above %d bytes", limit)
			}
			return nil, errorf(ErrBadRequest, "%v", err)
		}
	}
}

// decodeBytes is decode's strict encoding/json decoding of a body already read.
func decodeBytes(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(ErrBadRequest, "%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(ErrBadRequest, "data after the JSON object")
	}
	return nil
}
