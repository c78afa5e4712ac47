// Package metainfo reads and writes .torrent files (BEP 3) and the info dictionary inside
// them: single- and multi-file torrents, multitracker lists (BEP 12), web seeds (BEP 19),
// private torrents (BEP 27), pad files and file attributes (BEP 47), and the v2 and hybrid
// formats of BEP 52 (parsed, with their SHA-256 info-hash).
//
// The info-hash is always taken over the exact bytes of the info dictionary as found in the
// file, never over a re-encoding, so a torrent with unsorted keys or odd integers still has the
// hash its swarm uses. Parsing is bounded (file size, file count, path depth and length) and
// rejects paths that could escape the download directory.
package metainfo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/speedbt/btt/wire/bencode"
)

// Errors returned by parsing, wrapped with detail; test with errors.Is.
var (
	ErrTooLarge    = errors.New("metainfo: input exceeds limit")
	ErrNoInfo      = errors.New("metainfo: no info dictionary")
	ErrInvalid     = errors.New("metainfo: invalid torrent")
	ErrUnsafePath  = errors.New("metainfo: unsafe file path")
	ErrBadPieces   = errors.New("metainfo: piece hashes do not match the content")
	ErrPieceLength = errors.New("metainfo: invalid piece length")
)

// MetaInfo is a parsed .torrent file: the info dictionary plus what surrounds it.
type MetaInfo struct {
	Info *Info

	Announce     string     // "announce": the single tracker of BEP 3
	AnnounceList [][]string // "announce-list": tiers of trackers (BEP 12)
	URLList      []string   // "url-list": web seeds (BEP 19), a string or a list in the file
	Comment      string
	CreatedBy    string
	CreationDate time.Time // zero when absent

	// PieceLayers maps a v2 file's pieces root to the concatenated SHA-256 hashes of its
	// pieces ("piece layers", BEP 52). Nil for v1 torrents.
	PieceLayers map[[32]byte][]byte
}

// InfoHash returns the 20-byte info-hash that trackers, the DHT and the handshake use: SHA-1
// of the info dictionary's bytes, or for a v2-only torrent its SHA-256 truncated to 20 bytes
// (BEP 52).
func (m *MetaInfo) InfoHash() [20]byte { return m.Info.Hash() }

// InfoHashV2 returns the v2 info-hash (SHA-256 of the info dictionary) and whether the
// torrent is v2 or hybrid.
func (m *MetaInfo) InfoHashV2() ([32]byte, bool) { return m.Info.HashV2() }

// InfoBytes returns the exact bytes of the info dictionary, as served by BEP 9. The caller
// must not modify them.
func (m *MetaInfo) InfoBytes() []byte { return m.Info.Bytes() }

// Trackers returns the tracker tiers to use: the announce-list when present (BEP 12 says it
// then replaces announce), else announce as a single tier.
func (m *MetaInfo) Trackers() [][]string {
	if len(m.AnnounceList) > 0 {
		return m.AnnounceList
	}
	if m.Announce != "" {
		return [][]string{{m.Announce}}
	}
	return nil
}

// Limits bound what Parse accepts. A zero field means its default.
type Limits struct {
	MaxSize       int64 // bytes of the .torrent file; default 64 MiB
	MaxFiles      int   // entries in the file list (pad files included); default 1,000,000
	MaxPathDepth  int   // components of one file path, the torrent name excluded; default 64 (v2 trees deeper than about 62 hit bencode's depth limit first)
	MaxPathLength int   // bytes of one joined file path; default 4096 (Linux PATH_MAX)
}

// Default limits. A 64 MiB torrent holds 3.3 million piece hashes, far beyond any real torrent.
const (
	DefaultMaxSize       = 64 << 20
	DefaultMaxFiles      = 1_000_000
	DefaultMaxPathDepth  = 64
	DefaultMaxPathLength = 4096
)

func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxPathDepth <= 0 {
		l.MaxPathDepth = DefaultMaxPathDepth
	}
	if l.MaxPathLength <= 0 {
		l.MaxPathLength = DefaultMaxPathLength
	}
	return l
}

// decoder returns a bencode decoder deep enough for a v2 file tree of MaxPathDepth levels
// (each level is one dictionary, plus the torrent, info, tree and leaf wrappers).
func (l Limits) decoder() bencode.Decoder {
	return bencode.Decoder{MaxDepth: l.MaxPathDepth + 8}
}

// Parse parses a .torrent file with the default limits.
func Parse(data []byte) (*MetaInfo, error) { return Limits{}.Parse(data) }

// ParseInfo parses an info dictionary on its own (fetched from peers with BEP 9) with the
// default limits. The caller checks its hash against the magnet link's.
func ParseInfo(infoBytes []byte) (*Info, error) { return Limits{}.ParseInfo(infoBytes) }

// Load reads and parses a .torrent file with the default limits, reading no more than
// MaxSize bytes of it.
func Load(path string) (*MetaInfo, error) { return Limits{}.Load(path) }

// Load reads and parses a .torrent file, reading no more than l.MaxSize bytes.
func (l Limits) Load(path string) (*MetaInfo, error) {
	l = l.withDefaults()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, l.MaxSize+1))
	if err != nil {
		return nil, err
	}
	m, err := l.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// rawMetaInfo is the top level of a .torrent as decoded. Fields that real files spell in
// more than one way (url-list as string or list) or that are optional decorations are decoded
// loosely, so a torrent with a malformed comment still opens, as it does in other clients.
type rawMetaInfo struct {
	Info         bencode.RawMessage `bencode:"info"`
	Announce     any                `bencode:"announce"`
	AnnounceList any                `bencode:"announce-list"`
	URLList      any                `bencode:"url-list"`
	Comment      any                `bencode:"comment"`
	CreatedBy    any                `bencode:"created by"`
	CreationDate any                `bencode:"creation date"`
	PieceLayers  bencode.RawMessage `bencode:"piece layers"` // decoded for v2 only
}

// Parse parses a .torrent file.
func (l Limits) Parse(data []byte) (*MetaInfo, error) {
	l = l.withDefaults()
	if int64(len(data)) > l.MaxSize {
		return nil, fmt.Errorf("%w: torrent is larger than %d bytes", ErrTooLarge, l.MaxSize)
	}
	var raw rawMetaInfo
	if err := l.decoder().Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if raw.Info == nil {
		return nil, ErrNoInfo
	}
	info, err := l.parseInfo(raw.Info) // raw.Info is already a copy of data
	if err != nil {
		return nil, err
	}
	m := &MetaInfo{
		Info:      info,
		Announce:  asString(raw.Announce),
		Comment:   asString(raw.Comment),
		CreatedBy: asString(raw.CreatedBy),
		URLList:   asStrings(raw.URLList),
	}
	if n, ok := raw.CreationDate.(int64); ok && n > 0 {
		m.CreationDate = time.Unix(n, 0).UTC()
	}
	if tiers, ok := raw.AnnounceList.([]any); ok {
		for _, t := range tiers {
			if tier := asStrings(t); len(tier) > 0 {
				m.AnnounceList = append(m.AnnounceList, tier)
			}
		}
	}
	if info.MetaVersion == 2 && raw.PieceLayers != nil {
		var layers map[string][]byte
		if err := bencode.Unmarshal(raw.PieceLayers, &layers); err != nil {
			return nil, fmt.Errorf("%w: piece layers: %w", ErrInvalid, err)
		}
		m.PieceLayers = make(map[[32]byte][]byte, len(layers))
		for k, v := range layers {
			if len(k) != 32 || len(v)%32 != 0 {
				return nil, fmt.Errorf("%w: piece layer entry with %d-byte key and %d-byte value", ErrInvalid, len(k), len(v))
			}
			m.PieceLayers[[32]byte([]byte(k))] = v
		}
		if len(m.PieceLayers) == 0 {
			m.PieceLayers = nil
		}
		if err := checkPieceLayers(info, m.PieceLayers); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// asString returns v if it is a string; other types are ignored rather than failing the
// whole torrent over a decoration.
func asString(v any) string {
	s, _ := v.(string)
	return s
}

// asStrings accepts a string or a list of strings; non-string and empty entries are dropped.
func asStrings(v any) []string {
	switch v := v.(type) {
	case string:
		if v != "" {
			return []string{v}
		}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// outMetaInfo is the top level as written: bencode sorts the keys, so this gives the same
// bytes mktorrent writes for the same fields.
type outMetaInfo struct {
	Announce     string             `bencode:"announce,omitempty"`
	AnnounceList [][]string         `bencode:"announce-list,omitempty"`
	Comment      string             `bencode:"comment,omitempty"`
	CreatedBy    string             `bencode:"created by,omitempty"`
	CreationDate int64              `bencode:"creation date,omitempty"`
	Info         bencode.RawMessage `bencode:"info"`
	PieceLayers  map[string][]byte  `bencode:"piece layers,omitempty"`
	URLList      any                `bencode:"url-list,omitempty"`
}

// Encode returns the .torrent file's bytes. The info dictionary is written exactly as held,
// so the info-hash never changes. A single web seed is written as a string, as mktorrent
// does; several as a list.
func (m *MetaInfo) Encode() ([]byte, error) {
	out := outMetaInfo{
		Announce:     m.Announce,
		AnnounceList: m.AnnounceList,
		Comment:      m.Comment,
		CreatedBy:    m.CreatedBy,
		Info:         m.Info.Bytes(),
	}
	if !m.CreationDate.IsZero() {
		out.CreationDate = m.CreationDate.Unix()
	}
	switch len(m.URLList) {
	case 0:
	case 1:
		out.URLList = m.URLList[0]
	default:
		out.URLList = m.URLList
	}
	if len(m.PieceLayers) > 0 {
		out.PieceLayers = make(map[string][]byte, len(m.PieceLayers))
		for k, v := range m.PieceLayers {
			out.PieceLayers[string(k[:])] = v
		}
	}
	return bencode.Marshal(out)
}
