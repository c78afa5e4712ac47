package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/speedbt/btt/wire/magnet"
	"github.com/speedbt/btt/wire/metainfo"
)

// runInfo implements "btt info": what transmission-show prints, one "key: value" per line so
// scripts can grep it, sizes in exact bytes (with a readable form beside them).
func runInfo(_ context.Context, args []string) error {
	fs := newFlagSet("info", "FILE.torrent|MAGNET-URI")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one FILE.torrent or magnet URI, got %d arguments", len(pos))
	}
	if strings.HasPrefix(strings.ToLower(pos[0]), "magnet:") {
		mg, err := magnet.Parse(pos[0])
		if err != nil {
			return err
		}
		return writeMagnetInfo(os.Stdout, mg)
	}
	m, err := metainfo.Load(pos[0])
	if err != nil {
		return err
	}
	return writeInfo(os.Stdout, m)
}

// writeInfo prints m. The format is a contract scripts and tests rely on:
//
//	name: NAME
//	info-hash: 40 lowercase hex digits
//	info-hash-v2: 64 hex digits (v2 and hybrid torrents only)
//	version: v1 | v2 | hybrid
//	private: yes | no
//	created by: / created on: (RFC 3339, UTC) / comment: / source:  (when present)
//	piece count: N
//	piece size: BYTES (readable)
//	total size: BYTES (readable)
//	file count: N
//	magnet: URI
//	trackers:           then "  tier N: URL" per tracker (when any)
//	web seeds:          then "  URL" per seed (when any)
//	files:              then "  BYTES PATH[ [attributes]]" per file, sizes right-aligned
//
// A path holding control characters is printed Go-quoted so each file stays on one line.
func writeInfo(w io.Writer, m *metainfo.MetaInfo) error {
	info := m.Info
	var b strings.Builder
	line := func(key, val string) { fmt.Fprintf(&b, "%s: %s\n", key, val) }

	line("name", quoteIfNeeded(info.Name))
	h := m.InfoHash()
	line("info-hash", fmt.Sprintf("%x", h))
	version := "v1"
	if h2, ok := m.InfoHashV2(); ok {
		line("info-hash-v2", fmt.Sprintf("%x", h2))
		version = "v2"
		if info.HasV1() {
			version = "hybrid"
		}
	}
	line("version", version)
	line("private", map[bool]string{true: "yes", false: "no"}[info.Private])
	if m.CreatedBy != "" {
		line("created by", quoteIfNeeded(m.CreatedBy))
	}
	if !m.CreationDate.IsZero() {
		line("created on", m.CreationDate.UTC().Format(time.RFC3339))
	}
	if m.Comment != "" {
		line("comment", quoteIfNeeded(m.Comment))
	}
	if info.Source != "" {
		line("source", quoteIfNeeded(info.Source))
	}
	line("piece count", strconv.Itoa(info.NumPieces()))
	line("piece size", sizeString(info.PieceLength))
	line("total size", sizeString(info.TotalLength))
	line("file count", strconv.Itoa(len(info.Files)))
	line("magnet", m.Magnet().String())
	if tiers := m.Trackers(); len(tiers) > 0 {
		b.WriteString("trackers:\n")
		for i, tier := range tiers {
			for _, t := range tier {
				fmt.Fprintf(&b, "  tier %d: %s\n", i+1, quoteIfNeeded(t))
			}
		}
	}
	if len(m.URLList) > 0 {
		b.WriteString("web seeds:\n")
		for _, u := range m.URLList {
			fmt.Fprintf(&b, "  %s\n", quoteIfNeeded(u))
		}
	}
	b.WriteString("files:\n")
	width := 1
	for _, f := range info.Files {
		width = max(width, len(strconv.FormatInt(f.Length, 10)))
	}
	for _, f := range info.Files {
		fmt.Fprintf(&b, "  %*d %s%s\n", width, f.Length, quoteIfNeeded(strings.Join(f.Path, "/")), attrString(f))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMagnetInfo prints what a magnet link says, in the same "key: value" form as a torrent:
// name (when given), info-hash (when v1), info-hash-v2 (when v2), then the trackers:, web
// seeds:, peers: and select-only: sections when present.
func writeMagnetInfo(w io.Writer, mg *magnet.Magnet) error {
	var b strings.Builder
	if mg.DisplayName != "" {
		fmt.Fprintf(&b, "name: %s\n", quoteIfNeeded(mg.DisplayName))
	}
	if mg.HasV1 {
		fmt.Fprintf(&b, "info-hash: %x\n", mg.InfoHash)
	}
	if mg.HasV2 {
		fmt.Fprintf(&b, "info-hash-v2: %x\n", mg.InfoHashV2)
	}
	section := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		b.WriteString(title + ":\n")
		for _, it := range items {
			fmt.Fprintf(&b, "  %s\n", quoteIfNeeded(it))
		}
	}
	section("trackers", mg.Trackers)
	section("web seeds", mg.WebSeeds)
	section("peers", mg.Peers)
	var so []string
	for _, r := range mg.SelectOnly {
		if r.First == r.Last {
			so = append(so, strconv.Itoa(r.First))
		} else {
			so = append(so, fmt.Sprintf("%d-%d", r.First, r.Last))
		}
	}
	section("select-only", so)
	_, err := io.WriteString(w, b.String())
	return err
}

// attrString lists a file's BEP 47 attributes, e.g. " [pad]" or " [executable, hidden]".
func attrString(f metainfo.File) string {
	var a []string
	if f.Pad {
		a = append(a, "pad")
	}
	if f.Executable {
		a = append(a, "executable")
	}
	if f.Hidden {
		a = append(a, "hidden")
	}
	if f.Symlink {
		a = append(a, "symlink -> "+quoteIfNeeded(strings.Join(f.SymlinkPath, "/")))
	}
	if len(a) == 0 {
		return ""
	}
	return " [" + strings.Join(a, ", ") + "]"
}

// sizeString is "BYTES (readable)", the readable part in binary units.
func sizeString(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d (%d B)", n, n)
	}
	return fmt.Sprintf("%d (%.1f %s)", n, v, units[u])
}

func quoteIfNeeded(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return strconv.Quote(s)
		}
	}
	return s
}
