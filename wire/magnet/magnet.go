// Package magnet parses and formats magnet URIs: the links that name a torrent by its
// info-hash alone, so the metadata can be fetched from peers (BEP 9), optionally with
// trackers, a display name, peer addresses, web seeds and a file selection (BEP 53).
//
// Both v1 (SHA-1, "urn:btih:" in hex or base32) and v2 (SHA-256 multihash, "urn:btmh:1220")
// exact topics are understood; a hybrid torrent's link carries both.
package magnet

import (
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// MaxLength bounds the URI Parse accepts. Real links are well under a kilobyte even with
// dozens of trackers; the cap keeps a hostile link from costing more than this.
const MaxLength = 64 << 10

// maxSelect bounds the number of BEP 53 "so" entries.
const maxSelect = 4096

// Errors returned by Parse, wrapped with detail; test with errors.Is.
var (
	ErrNotMagnet     = errors.New("magnet: not a magnet URI")
	ErrTooLong       = errors.New("magnet: URI too long")
	ErrNoInfoHash    = errors.New("magnet: no BitTorrent exact topic (xt=urn:btih or urn:btmh)")
	ErrBadInfoHash   = errors.New("magnet: malformed info-hash")
	ErrBadSelectOnly = errors.New("magnet: malformed select-only (so) list")
	ErrBadEscape     = errors.New("magnet: malformed percent-escape")
)

// A Range is an inclusive range of file indices, as used by BEP 53's "so" parameter.
// A single index i is the range {i, i}.
type Range struct {
	First, Last int
}

// Magnet is a parsed magnet URI.
type Magnet struct {
	InfoHash   [20]byte // v1 info-hash (SHA-1), valid when HasV1
	HasV1      bool
	InfoHashV2 [32]byte // v2 info-hash (SHA-256), valid when HasV2
	HasV2      bool

	DisplayName string   // dn
	Trackers    []string // tr, in the order given
	WebSeeds    []string // ws
	Peers       []string // x.pe, "host:port"
	SelectOnly  []Range  // so (BEP 53), file indices
}

// Parse parses a magnet URI. It needs at least one BitTorrent exact topic. Unknown
// parameters are ignored; repeated and numbered ("tr.1") parameters are accepted.
func Parse(uri string) (*Magnet, error) {
	if len(uri) > MaxLength {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLong, len(uri), MaxLength)
	}
	// The scheme is case-insensitive (RFC 3986); everything after "?" is the query.
	scheme, query, ok := strings.Cut(uri, ":")
	if !ok || !strings.EqualFold(scheme, "magnet") || !strings.HasPrefix(query, "?") {
		return nil, ErrNotMagnet
	}
	query = query[1:]

	var m Magnet
	// Split by hand rather than with url.ParseQuery, which rejects ';' that some trackers'
	// URLs contain.
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if pair == "" {
			continue
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q", ErrBadEscape, rawKey)
		}
		val, err := url.QueryUnescape(rawVal)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%q", ErrBadEscape, key, rawVal)
		}
		// "tr.1", "xt.2": numbered variants of a parameter mean the same as the base name.
		if base, n, ok := strings.Cut(key, "."); ok && isDigits(n) {
			key = base
		}
		switch key {
		case "xt":
			if err := m.setTopic(val); err != nil {
				return nil, err
			}
		case "dn":
			m.DisplayName = val
		case "tr":
			m.Trackers = append(m.Trackers, val)
		case "ws":
			m.WebSeeds = append(m.WebSeeds, val)
		case "x.pe":
			m.Peers = append(m.Peers, val)
		case "so":
			so, err := parseSelectOnly(val, maxSelect-len(m.SelectOnly))
			if err != nil {
				return nil, err
			}
			m.SelectOnly = append(m.SelectOnly, so...)
		}
	}
	if !m.HasV1 && !m.HasV2 {
		return nil, ErrNoInfoHash
	}
	return &m, nil
}

// setTopic records one exact topic. Topics of other networks (ed2k, sha1 of a file) are
// ignored, as clients do, so mixed links still work.
func (m *Magnet) setTopic(xt string) error {
	const btih, btmh = "urn:btih:", "urn:btmh:"
	switch {
	case hasPrefixFold(xt, btih):
		h, err := parseBTIH(xt[len(btih):])
		if err != nil {
			return err
		}
		m.InfoHash, m.HasV1 = h, true
	case hasPrefixFold(xt, btmh):
		// A multihash: 0x12 (sha2-256), 0x20 (32 bytes), then the digest.
		s := xt[len(btmh):]
		if len(s) != 68 || !strings.EqualFold(s[:4], "1220") {
			return fmt.Errorf("%w: btmh %q is not a 32-byte sha2-256 multihash", ErrBadInfoHash, s)
		}
		if _, err := hex.Decode(m.InfoHashV2[:], []byte(s[4:])); err != nil {
			return fmt.Errorf("%w: btmh %q: %v", ErrBadInfoHash, s, err)
		}
		m.HasV2 = true
	}
	return nil
}

// parseBTIH decodes a v1 info-hash written as 40 hex digits or 32 base32 characters.
func parseBTIH(s string) ([20]byte, error) {
	var h [20]byte
	switch len(s) {
	case 40:
		if _, err := hex.Decode(h[:], []byte(s)); err != nil {
			return h, fmt.Errorf("%w: hex btih %q: %v", ErrBadInfoHash, s, err)
		}
	case 32:
		n, err := base32.StdEncoding.Decode(h[:], []byte(strings.ToUpper(s)))
		if err != nil || n != 20 {
			return h, fmt.Errorf("%w: base32 btih %q", ErrBadInfoHash, s)
		}
	default:
		return h, fmt.Errorf("%w: btih %q has %d characters, want 40 (hex) or 32 (base32)", ErrBadInfoHash, s, len(s))
	}
	return h, nil
}

// parseSelectOnly parses BEP 53's "0,2,4-6" into ranges, allowing at most limit of them.
// Ranges are kept as ranges, never expanded, so "0-2000000000" costs one entry.
func parseSelectOnly(s string, limit int) ([]Range, error) {
	var out []Range
	for s != "" {
		var item string
		item, s, _ = strings.Cut(s, ",")
		if len(out) >= limit {
			return nil, fmt.Errorf("%w: more than %d entries", ErrBadSelectOnly, maxSelect)
		}
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := parseIndex(lo)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrBadSelectOnly, item)
		}
		last := first
		if isRange {
			if last, err = parseIndex(hi); err != nil || last < first {
				return nil, fmt.Errorf("%w: %q", ErrBadSelectOnly, item)
			}
		}
		out = append(out, Range{first, last})
	}
	return out, nil
}

func parseIndex(s string) (int, error) {
	if !isDigits(s) {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int(n), err
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// String formats the link: v1 topic in lowercase hex, v2 topic as a multihash, then dn, tr,
// ws, x.pe and so. Parse(m.String()) gives back m.
func (m *Magnet) String() string {
	var b strings.Builder
	b.WriteString("magnet:?")
	sep := ""
	add := func(key, val string) {
		b.WriteString(sep)
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(val)
		sep = "&"
	}
	if m.HasV1 {
		add("xt", "urn:btih:"+hex.EncodeToString(m.InfoHash[:]))
	}
	if m.HasV2 {
		add("xt", "urn:btmh:1220"+hex.EncodeToString(m.InfoHashV2[:]))
	}
	if m.DisplayName != "" {
		add("dn", escape(m.DisplayName))
	}
	for _, t := range m.Trackers {
		add("tr", escape(t))
	}
	for _, w := range m.WebSeeds {
		add("ws", escape(w))
	}
	for _, p := range m.Peers {
		add("x.pe", escapePeer(p))
	}
	if len(m.SelectOnly) > 0 {
		parts := make([]string, len(m.SelectOnly))
		for i, r := range m.SelectOnly {
			parts[i] = strconv.Itoa(r.First)
			if r.Last != r.First {
				parts[i] += "-" + strconv.Itoa(r.Last)
			}
		}
		add("so", strings.Join(parts, ","))
	}
	return b.String()
}

// escapePeer escapes a peer address but leaves the ':', '[' and ']' of "host:port" and
// "[v6]:port" alone: libtorrent reads x.pe without unescaping it.
func escapePeer(s string) string {
	r := strings.NewReplacer("%3A", ":", "%5B", "[", "%5D", "]")
	return r.Replace(escape(s))
}

// escape percent-encodes a value. Spaces become %20 rather than '+', which is what libtorrent
// and Transmission write and what every parser reads back the same way.
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
