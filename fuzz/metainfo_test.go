package fuzz

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/wire/bencode"
	"github.com/speedbt/btt/wire/magnet"
	"github.com/speedbt/btt/wire/metainfo"
)

// metainfoSeeds returns the .torrent files of wire/metainfo/testdata (written by
// libtorrent 2.0.8 and mktorrent 1.1: v1, hybrid, v2-only, single and multi-file, private).
func metainfoSeeds(f *testing.F) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join(testutil.ModuleRoot(f), "wire", "metainfo", "testdata", "*.torrent"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no metainfo seeds: %v", err)
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzMetainfo checks that Parse never panics, and that a parsed torrent encodes to bytes
// that parse to the same torrent with the same info-hash.
func FuzzMetainfo(f *testing.F) {
	for _, s := range metainfoSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte("d4:infod4:name1:n6:lengthi1e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := metainfo.Parse(data)
		if err != nil {
			return
		}
		if !bytes.Contains(data, m.InfoBytes()) {
			t.Fatal("info bytes are not taken from the input")
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		m2, err := metainfo.Parse(enc)
		if err != nil {
			t.Fatalf("Parse(Encode()): %v\n%q", err, enc)
		}
		if diff := cmp.Diff(m, m2, cmp.AllowUnexported(metainfo.Info{})); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		if m.InfoHash() != m2.InfoHash() {
			t.Fatal("info-hash changed in a round trip")
		}
	})
}

// FuzzMetainfoInfo checks ParseInfo (the path of metadata fetched from peers): no panics,
// and what it accepts keeps the invariants storage relies on.
func FuzzMetainfoInfo(f *testing.F) {
	for _, s := range metainfoSeeds(f) {
		var top struct {
			Info bencode.RawMessage `bencode:"info"`
		}
		if err := bencode.Unmarshal(s, &top); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(top.Info))
	}
	// The metadata libtorrent sent in a BEP 9 data message: 4-byte length, id 20, extended id,
	// the bencoded header, then the info dictionary.
	f.Add([]byte("d5:filesld6:lengthi1e4:pathl1:aeed4:attr1:p6:lengthi16383e4:pathl4:.pad5:16383eed4:attr2:xl6:lengthi0e4:pathl1:le12:symlink pathl1:aeed6:lengthi2e4:pathl1:b1:ceee" +
		"4:name1:n12:piece lengthi16384e6:pieces40:" + string(make([]byte, 40)) + "e"))
	f.Add([]byte("d9:file treed1:ad0:d6:lengthi0eee1:bd1:cd0:d6:lengthi5e11:pieces root32:" + string(make([]byte, 32)) + "eeee" +
		"12:meta versioni2e4:name1:n12:piece lengthi16384ee"))
	msg := testutil.Vector(f, "bt/libtorrent-2.0.8/ext-ut_metadata-data.bin")
	if n, err := bencode.Next(msg[6:]); err == nil {
		f.Add(msg[6+n:])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := metainfo.ParseInfo(data)
		if err != nil {
			return
		}
		var end int64
		for _, file := range info.Files {
			if file.Length < 0 || file.Offset < end {
				t.Fatalf("file %q: length %d at offset %d after %d", file.Path, file.Length, file.Offset, end)
			}
			end = file.Offset + file.Length
			for _, c := range file.Path {
				if c == "" || c == "." || c == ".." || bytes.ContainsAny([]byte(c), "/\\\x00") {
					t.Fatalf("unsafe path %q accepted", file.Path)
				}
			}
		}
		if end != info.TotalLength {
			t.Fatalf("files end at %d, total %d", end, info.TotalLength)
		}
		if n := int64(info.NumPieces()); n*info.PieceLength < info.TotalLength || (n > 0 && (n-1)*info.PieceLength >= info.TotalLength) {
			t.Fatalf("%d pieces of %d for %d bytes", n, info.PieceLength, info.TotalLength)
		}
		again, err := metainfo.ParseInfo(info.Bytes())
		if err != nil || again.Hash() != info.Hash() || !slices.EqualFunc(again.Files, info.Files, func(a, b metainfo.File) bool {
			return slices.Equal(a.Path, b.Path) && a.Length == b.Length && a.Offset == b.Offset
		}) {
			t.Fatalf("reparse differs: %v", err)
		}
	})
}

// FuzzMagnet checks that magnet.Parse never panics and that String gives back a link that
// parses to the same value.
func FuzzMagnet(f *testing.F) {
	for _, s := range []string{
		"magnet:?xt=urn:btih:58b2cdd92185f159d186a341da87e8f3bb189031&dn=d&tr=http%3a%2f%2ft%2fa&tr=http%3a%2f%2ft%2fb&ws=http%3a%2f%2fws%2f",
		"magnet:?xt=urn:btih:osrsh5zs45dn5le6fhtoqqunpctixewn&x.pe=127.0.0.1:6881&x.pe=[::1]:1&so=0,2,4-6",
		"magnet:?xt=urn:btih:b5830cdf2e6196b2978e617ebec045667bd2f581&xt=urn:btmh:122094366b7437add556a4e3ead3ffd7534633b02f48ebf455dbcaca9ab0fcb8ee19&dn=multi",
		"magnet:?xt=urn:btmh:1220002a842b02c2031812475e64b1d1eef3a9842dda201466f97cd7be93ecdaf2cb",
		"MAGNET:?xt.1=urn:ed2k:x&xt.2=urn:btih:58B2CDD92185F159D186A341DA87E8F3BB189031&tr.1=a;b&dn=a+b%20c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := magnet.Parse(s)
		if err != nil {
			return
		}
		out := m.String()
		if len(out) > magnet.MaxLength {
			return // escaping can lengthen a link past the limit
		}
		m2, err := magnet.Parse(out)
		if err != nil {
			t.Fatalf("Parse(String()) = %v for %q", err, out)
		}
		if diff := cmp.Diff(m, m2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
