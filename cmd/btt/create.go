package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/speedbt/btt/wire/metainfo"
)

// runCreate implements "btt create": mktorrent's job, with its conventions (each -a is a
// tier, commas join trackers within a tier; the output defaults to NAME.torrent and is not
// overwritten unless -f).
func runCreate(ctx context.Context, args []string) error {
	fs := newFlagSet("create", "PATH")
	var (
		out, pieceLen, name, comment, source, createdBy string
		trackers, webSeeds                              stringList
		private, pad, hybrid, v2Only, noDate, force     bool
		workers                                         int
	)
	fs.StringVar(&out, "o", "", "write the torrent to `FILE` (default NAME.torrent)")
	fs.StringVar(&out, "output", "", "same as -o")
	fs.StringVar(&pieceLen, "piece-length", "auto", "piece length in `BYTES` (a power of two >= 16384; suffixes K, M), or auto")
	fs.StringVar(&pieceLen, "l", "auto", "same as --piece-length")
	fs.Var(&trackers, "a", "announce `URL[,URL...]`: each -a is a tier, commas separate trackers within it (repeatable)")
	fs.Var(&trackers, "announce", "same as -a")
	fs.Var(&webSeeds, "w", "web seed `URL[,URL...]` (BEP 19, repeatable)")
	fs.Var(&webSeeds, "web-seed", "same as -w")
	fs.BoolVar(&private, "private", false, "set the private flag (BEP 27)")
	fs.BoolVar(&private, "p", false, "same as --private")
	fs.BoolVar(&pad, "pad", false, "align files on piece boundaries with BEP 47 pad files")
	fs.BoolVar(&hybrid, "hybrid", false, "also write BEP 52 v2 metadata: a v1+v2 hybrid torrent, as libtorrent 2.0 makes (implies --pad)")
	fs.BoolVar(&v2Only, "v2", false, "write only BEP 52 v2 metadata: a v2-only torrent, as libtorrent 2.0 makes with v2_only (v1-only clients cannot join it)")
	fs.StringVar(&name, "n", "", "torrent `NAME` (default: base name of PATH)")
	fs.StringVar(&name, "name", "", "same as -n")
	fs.StringVar(&comment, "c", "", "`COMMENT` to add")
	fs.StringVar(&comment, "comment", "", "same as -c")
	fs.StringVar(&source, "s", "", "`SOURCE` tag, written inside the info dictionary")
	fs.StringVar(&source, "source", "", "same as -s")
	fs.StringVar(&createdBy, "created-by", "btt", "`TEXT` for the created by field")
	fs.BoolVar(&noDate, "d", false, "do not write the creation date")
	fs.BoolVar(&noDate, "no-date", false, "same as -d")
	fs.BoolVar(&force, "f", false, "overwrite the output file if it exists")
	fs.BoolVar(&force, "force", false, "same as -f")
	fs.IntVar(&workers, "t", 0, "hashing `THREADS` (default: number of CPUs)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one PATH, got %d arguments", len(pos))
	}
	if hybrid && v2Only {
		return usagef("--hybrid and --v2 exclude each other")
	}
	pl, err := parseSize(pieceLen)
	if err != nil {
		return usagef("--piece-length: %v", err)
	}

	opts := metainfo.CreateOptions{
		PieceLength: pl,
		Name:        name,
		WebSeeds:    splitCommas(webSeeds),
		Private:     private,
		Source:      source,
		Comment:     comment,
		CreatedBy:   createdBy,
		PadFiles:    pad,
		Hybrid:      hybrid,
		V2Only:      v2Only,
		Workers:     workers,
	}
	for _, t := range trackers {
		if tier := splitCommas([]string{t}); len(tier) > 0 {
			opts.Trackers = append(opts.Trackers, tier)
		}
	}
	if !noDate {
		opts.CreationDate = time.Now()
	}
	if isTerminal(os.Stderr) {
		opts.Progress = progressPrinter(os.Stderr)
	}
	m, err := metainfo.Create(ctx, pos[0], opts)
	if opts.Progress != nil {
		fmt.Fprintln(os.Stderr) // end the status line
	}
	if err != nil {
		return err
	}
	data, err := m.Encode()
	if err != nil {
		return err
	}
	if out == "" {
		out = m.Info.Name + ".torrent"
	}
	if err := writeFile(out, data, force); err != nil {
		return err
	}
	h := m.InfoHash()
	fmt.Printf("wrote %s\n", out)
	fmt.Printf("info-hash: %x\n", h)
	if h2, ok := m.InfoHashV2(); ok {
		fmt.Printf("info-hash-v2: %x\n", h2)
	}
	fmt.Printf("piece count: %d\npiece size: %d\ntotal size: %d\n", m.Info.NumPieces(), m.Info.PieceLength, m.Info.TotalLength)
	fmt.Printf("magnet: %s\n", m.Magnet())
	return nil
}

// progressPrinter returns a CreateOptions.Progress that redraws one status line on w, at
// most a few times a second.
func progressPrinter(w io.Writer) func(done, total int64) {
	var last time.Time
	return func(done, total int64) {
		if now := time.Now(); done == total || now.Sub(last) >= 200*time.Millisecond {
			last = now
			fmt.Fprintf(w, "\rhashed %d of %d MiB (%d%%)", done>>20, total>>20, done*100/max(total, 1))
		}
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// writeFile writes data to name through a temporary file and a rename, so a crash never
// leaves half a torrent; without force an existing file is an error, as with mktorrent.
func writeFile(name string, data []byte, force bool) error {
	if !force {
		if _, err := os.Lstat(name); err == nil {
			return fmt.Errorf("%s exists (use -f to overwrite)", name)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".btt-create-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// parseSize reads a byte count with an optional K or M (binary) suffix; "auto" and "" are 0.
func parseSize(s string) (int64, error) {
	if s == "" || s == "auto" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult, s = 1<<10, s[:len(s)-1]
	case "M":
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > metainfo.MaxPieceLength/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// splitCommas splits each value at commas and drops empty parts.
func splitCommas(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
