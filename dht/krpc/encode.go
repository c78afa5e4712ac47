package krpc

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/speedbt/btt/wire/bencode"
)

// Marshal returns the encoding of m. See Append.
func (m *Msg) Marshal() ([]byte, error) { return m.Append(make([]byte, 0, 256)) }

// Append appends the bencoding of m to dst. Keys are written in sorted order, the
// modelled ones interleaved with Extra, so a decoded canonical message re-encodes to the
// same bytes. Extra values must be valid bencode.
func (m *Msg) Append(dst []byte) ([]byte, error) {
	if err := checkExtra(m.Extra); err != nil {
		return dst, err
	}
	if m.A != nil {
		if err := checkExtra(m.A.Extra); err != nil {
			return dst, err
		}
	}
	if m.R != nil {
		if err := checkExtra(m.R.Extra); err != nil {
			return dst, err
		}
	}
	w := dictWriter{dst: append(dst, 'd'), extra: m.Extra}
	if m.A != nil {
		w.key("a")
		w.dst = m.A.append(w.dst)
	}
	if m.E != nil {
		w.key("e")
		w.dst = append(w.dst, 'l')
		w.dst = bencode.AppendInt(w.dst, int64(m.E.Code))
		w.dst = bencode.AppendString(w.dst, m.E.Message)
		w.dst = append(w.dst, 'e')
	}
	if m.IP.IsValid() {
		w.key("ip")
		w.dst = appendCompactString(w.dst, m.IP)
	}
	if m.Q != "" {
		w.key("q")
		w.dst = bencode.AppendString(w.dst, m.Q)
	}
	if m.R != nil {
		w.key("r")
		w.dst = m.R.append(w.dst)
	}
	if m.RO {
		w.key("ro")
		w.dst = bencode.AppendInt(w.dst, 1)
	}
	w.key("t")
	w.dst = bencode.AppendBytes(w.dst, m.T)
	if m.V != nil {
		w.key("v")
		w.dst = bencode.AppendBytes(w.dst, m.V)
	}
	w.key("y")
	w.dst = bencode.AppendString(w.dst, m.Y)
	return w.end(), nil
}

func (a *Args) append(dst []byte) []byte {
	w := dictWriter{dst: append(dst, 'd'), extra: a.Extra}
	w.key("id")
	w.dst = bencode.AppendBytes(w.dst, a.ID[:])
	if a.ImpliedPort {
		w.key("implied_port")
		w.dst = bencode.AppendInt(w.dst, 1)
	}
	if !a.InfoHash.IsZero() {
		w.key("info_hash")
		w.dst = bencode.AppendBytes(w.dst, a.InfoHash[:])
	}
	if a.Port != 0 {
		w.key("port")
		w.dst = bencode.AppendInt(w.dst, int64(a.Port))
	}
	if !a.Target.IsZero() {
		w.key("target")
		w.dst = bencode.AppendBytes(w.dst, a.Target[:])
	}
	if a.Token != nil {
		w.key("token")
		w.dst = bencode.AppendBytes(w.dst, a.Token)
	}
	if a.Want != nil {
		w.key("want")
		w.dst = append(w.dst, 'l')
		for _, s := range a.Want {
			w.dst = bencode.AppendString(w.dst, s)
		}
		w.dst = append(w.dst, 'e')
	}
	return w.end()
}

func (r *Return) append(dst []byte) []byte {
	w := dictWriter{dst: append(dst, 'd'), extra: r.Extra}
	w.key("id")
	w.dst = bencode.AppendBytes(w.dst, r.ID[:])
	if r.Nodes != nil {
		w.key("nodes")
		w.dst = appendNodesString(w.dst, r.Nodes, false)
	}
	if r.Nodes6 != nil {
		w.key("nodes6")
		w.dst = appendNodesString(w.dst, r.Nodes6, true)
	}
	if r.Token != nil {
		w.key("token")
		w.dst = bencode.AppendBytes(w.dst, r.Token)
	}
	if r.Values != nil {
		w.key("values")
		w.dst = append(w.dst, 'l')
		for _, v := range r.Values {
			w.dst = appendCompactString(w.dst, v)
		}
		w.dst = append(w.dst, 'e')
	}
	return w.end()
}

func appendCompactString(dst []byte, a netip.AddrPort) []byte {
	if a.Addr().Is4() {
		dst = append(dst, "6:"...)
	} else {
		dst = append(dst, "18:"...)
	}
	return AppendCompactAddr(dst, a)
}

func appendNodesString(dst []byte, nodes []NodeInfo, v6 bool) []byte {
	n := 0
	for _, x := range nodes {
		if x.Addr.Addr().Is4() != v6 {
			n++
		}
	}
	size := CompactNode4Len
	if v6 {
		size = CompactNode6Len
	}
	dst = strconv.AppendInt(dst, int64(n*size), 10)
	dst = append(dst, ':')
	return AppendCompactNodes(dst, nodes, v6)
}

func checkExtra(m map[string][]byte) error {
	for k, v := range m {
		if err := bencode.Valid(v); err != nil {
			return fmt.Errorf("krpc: extra key %q: %w", k, err)
		}
	}
	return nil
}

// dictWriter writes a dictionary's modelled keys, which the caller supplies in sorted
// order, merged with the sorted keys of an Extra map.
type dictWriter struct {
	dst   []byte
	extra map[string][]byte
	keys  []string
	next  int
}

func (w *dictWriter) flushBefore(k string, all bool) {
	if len(w.extra) == 0 {
		return
	}
	if w.keys == nil {
		w.keys = make([]string, 0, len(w.extra))
		for ek := range w.extra {
			w.keys = append(w.keys, ek)
		}
		slices.Sort(w.keys)
	}
	for w.next < len(w.keys) && (all || strings.Compare(w.keys[w.next], k) < 0) {
		ek := w.keys[w.next]
		w.next++
		if ek == k {
			continue // a modelled key wins over a stale Extra copy
		}
		w.dst = bencode.AppendString(w.dst, ek)
		w.dst = append(w.dst, w.extra[ek]...)
	}
	// Skip an Extra key equal to the modelled one being written.
	if !all && w.next < len(w.keys) && w.keys[w.next] == k {
		w.next++
	}
}

func (w *dictWriter) key(k string) {
	w.flushBefore(k, false)
	w.dst = bencode.AppendString(w.dst, k)
}

func (w *dictWriter) end() []byte {
	w.flushBefore("", true)
	return append(w.dst, 'e')
}
