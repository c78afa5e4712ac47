package krpc

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/speedbt/btt/wire/bencode"
)

// MaxMessageLen bounds the size of a message Decode accepts. KRPC messages fit one UDP
// datagram on a 1500-byte path; the bound leaves room for jumbo values lists.
const MaxMessageLen = 8192

// maxListLen bounds how many entries of "values" and "want" are decoded.
const maxListLen = 512

// A MalformedError reports a message that is not valid KRPC. When the transaction ID
// and type could be read, T and Y are set, so a node can answer a bad query with
// error 203 as BEP 5 asks.
type MalformedError struct {
	T   []byte
	Y   string
	Err error
}

func (e *MalformedError) Error() string { return "krpc: malformed message: " + e.Err.Error() }
func (e *MalformedError) Unwrap() error { return e.Err }

// Decode parses one KRPC message. It never panics and allocates at most a small
// multiple of len(b).
func Decode(b []byte) (*Msg, error) {
	if len(b) > MaxMessageLen {
		return nil, &MalformedError{Err: fmt.Errorf("%d bytes, more than %d", len(b), MaxMessageLen)}
	}
	if err := bencode.Valid(b); err != nil {
		return nil, &MalformedError{Err: err}
	}
	if b[0] != 'd' {
		return nil, &MalformedError{Err: errors.New("not a dictionary")}
	}
	m := &Msg{}
	var firstErr error
	fail := func(key string, err error) {
		if firstErr == nil {
			firstErr = fmt.Errorf("key %q: %w", key, err)
		}
	}
	err := eachKey(b, func(k string, v []byte) {
		var err error
		switch k {
		case "t":
			m.T, err = str(v)
		case "y":
			var s []byte
			s, err = str(v)
			m.Y = string(s)
		case "q":
			var s []byte
			s, err = str(v)
			m.Q = string(s)
		case "a":
			m.A, err = decodeArgs(v)
		case "r":
			m.R, err = decodeReturn(v)
		case "e":
			m.E, err = decodeError(v)
		case "v":
			m.V, err = str(v)
		case "ip":
			var s []byte
			if s, err = str(v); err == nil {
				m.IP, err = ParseCompactAddr(s)
			}
		case "ro":
			var n int64
			n, err = integer(v)
			m.RO = n != 0
		default:
			m.Extra = setExtra(m.Extra, k, v)
		}
		if err != nil {
			fail(k, err)
		}
	})
	if err == nil {
		err = firstErr
	}
	if err == nil {
		err = m.check()
	}
	if err != nil {
		return nil, &MalformedError{T: m.T, Y: m.Y, Err: err}
	}
	return m, nil
}

// check enforces the keys each message type must carry.
func (m *Msg) check() error {
	if m.T == nil {
		return errors.New(`missing "t"`)
	}
	switch m.Y {
	case TypeQuery:
		if m.Q == "" {
			return errors.New(`query without "q"`)
		}
		if m.A == nil {
			return errors.New(`query without "a"`)
		}
	case TypeResponse:
		if m.R == nil {
			return errors.New(`response without "r"`)
		}
	case TypeError:
		if m.E == nil {
			return errors.New(`error without "e"`)
		}
	default:
		return fmt.Errorf(`unknown "y" %q`, m.Y)
	}
	return nil
}

func decodeArgs(b []byte) (*Args, error) {
	if b[0] != 'd' {
		return nil, errors.New("not a dictionary")
	}
	a := &Args{}
	var firstErr error
	err := eachKey(b, func(k string, v []byte) {
		var err error
		switch k {
		case "id":
			a.ID, err = id(v)
		case "target":
			a.Target, err = id(v)
		case "info_hash":
			a.InfoHash, err = id(v)
		case "port":
			var n int64
			if n, err = integer(v); err == nil {
				if n < 0 || n > 65535 {
					err = fmt.Errorf("port %d out of range", n)
				}
				a.Port = int(n)
			}
		case "implied_port":
			var n int64
			n, err = integer(v)
			a.ImpliedPort = n != 0
		case "token":
			a.Token, err = str(v)
		case "want":
			a.Want, err = stringList(v)
		default:
			a.Extra = setExtra(a.Extra, k, v)
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("a.%s: %w", k, err)
		}
	})
	if err == nil {
		err = firstErr
	}
	return a, err
}

func decodeReturn(b []byte) (*Return, error) {
	if b[0] != 'd' {
		return nil, errors.New("not a dictionary")
	}
	r := &Return{}
	var firstErr error
	err := eachKey(b, func(k string, v []byte) {
		var err error
		switch k {
		case "id":
			r.ID, err = id(v)
		case "nodes":
			var s []byte
			if s, err = str(v); err == nil {
				r.Nodes, err = ParseCompactNodes(s, false)
			}
		case "nodes6":
			var s []byte
			if s, err = str(v); err == nil {
				r.Nodes6, err = ParseCompactNodes(s, true)
			}
		case "token":
			r.Token, err = str(v)
		case "values":
			r.Values, err = values(v)
		default:
			r.Extra = setExtra(r.Extra, k, v)
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("r.%s: %w", k, err)
		}
	})
	if err == nil {
		err = firstErr
	}
	return r, err
}

func decodeError(b []byte) (*Error, error) {
	if b[0] != 'l' {
		return nil, errors.New("not a list")
	}
	var items [][]byte
	if err := eachItem(b, func(v []byte) error {
		if len(items) == 2 {
			return errors.New("more than two items")
		}
		items = append(items, v)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(items) != 2 {
		return nil, errors.New("want [code, message]")
	}
	code, err := integer(items[0])
	if err != nil {
		return nil, fmt.Errorf("code: %w", err)
	}
	if code < -1<<31 || code > 1<<31-1 {
		return nil, fmt.Errorf("code %d out of range", code)
	}
	msg, err := str(items[1])
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	return &Error{Code: int(code), Message: string(msg)}, nil
}

func values(b []byte) ([]netip.AddrPort, error) {
	if b[0] != 'l' {
		return nil, errors.New("not a list")
	}
	out := []netip.AddrPort{}
	err := eachItem(b, func(v []byte) error {
		if len(out) == maxListLen {
			return fmt.Errorf("more than %d values", maxListLen)
		}
		s, err := str(v)
		if err != nil {
			return err
		}
		a, err := ParseCompactAddr(s)
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

func stringList(b []byte) ([]string, error) {
	if b[0] != 'l' {
		return nil, errors.New("not a list")
	}
	out := []string{}
	err := eachItem(b, func(v []byte) error {
		if len(out) == maxListLen {
			return fmt.Errorf("more than %d items", maxListLen)
		}
		s, err := str(v)
		out = append(out, string(s))
		return err
	})
	return out, err
}

func setExtra(m map[string][]byte, k string, v []byte) map[string][]byte {
	if m == nil {
		m = make(map[string][]byte, 2)
	}
	m[k] = append([]byte(nil), v...)
	return m
}

func id(v []byte) (ID, error) {
	s, err := str(v)
	if err != nil {
		return ID{}, err
	}
	return idFromBytes(s)
}

// The helpers below walk values that bencode.Valid has already accepted, so their
// structure is known to be well formed; they still check types.

// str returns the bytes of a string value (a copy, so the message does not pin the packet).
func str(v []byte) ([]byte, error) {
	if len(v) == 0 || v[0] < '0' || v[0] > '9' {
		return nil, errors.New("not a string")
	}
	_, s := splitString(v)
	return append([]byte{}, s...), nil
}

// splitString splits a valid bencoded string at its start: it returns the total
// encoded length and the content.
func splitString(v []byte) (int, []byte) {
	n, i := 0, 0
	for v[i] != ':' {
		n = n*10 + int(v[i]-'0')
		i++
	}
	return i + 1 + n, v[i+1 : i+1+n]
}

func integer(v []byte) (int64, error) {
	if len(v) < 3 || v[0] != 'i' {
		return 0, errors.New("not an integer")
	}
	n, err := strconv.ParseInt(string(v[1:len(v)-1]), 10, 64)
	if err != nil {
		return 0, errors.New("integer out of range")
	}
	return n, nil
}

// eachKey calls f for every key of a valid dictionary, in order. Duplicate keys are an
// error: a message must mean one thing.
func eachKey(d []byte, f func(k string, v []byte)) error {
	pos := 1
	var prev string
	first := true
	for d[pos] != 'e' {
		n, k := splitString(d[pos:])
		pos += n
		key := string(k)
		if !first && key == prev {
			return fmt.Errorf("duplicate key %q", key)
		}
		first, prev = false, key
		l, err := bencode.Next(d[pos:])
		if err != nil {
			return err
		}
		f(key, d[pos:pos+l])
		pos += l
	}
	return nil
}

func eachItem(l []byte, f func(v []byte) error) error {
	pos := 1
	for l[pos] != 'e' {
		n, err := bencode.Next(l[pos:])
		if err != nil {
			return err
		}
		if err := f(l[pos : pos+n]); err != nil {
			return err
		}
		pos += n
	}
	return nil
}
