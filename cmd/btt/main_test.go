package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/daemon"
	"github.com/speedbt/btt/wire/magnet"
	"github.com/speedbt/btt/wire/metainfo"
)

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantO   string
		wantA   []string
		wantP   bool
	}{
		{[]string{"dir", "-o", "x.torrent"}, []string{"dir"}, "x.torrent", nil, false},
		{[]string{"-o", "x", "dir", "--private", "-a", "u1", "-a", "u2"}, []string{"dir"}, "x", []string{"u1", "u2"}, true},
		{[]string{"a", "b", "--", "-o", "c"}, []string{"a", "b", "-o", "c"}, "", nil, false},
		{[]string{"--output=y", "dir"}, []string{"dir"}, "y", nil, false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		o := fs.String("output", "", "")
		fs.StringVar(o, "o", "", "")
		p := fs.Bool("private", false, "")
		var a stringList
		fs.Var(&a, "a", "")
		pos, err := parseInterleaved(fs, tt.args)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if diff := cmp.Diff(tt.wantPos, pos); diff != "" || *o != tt.wantO || *p != tt.wantP || !cmp.Equal([]string(a), tt.wantA) {
			t.Errorf("%q: pos %q (diff %s) o %q p %v a %q", tt.args, pos, diff, *o, *p, a)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	if _, err := parseInterleaved(fs, []string{"x", "-nope"}); !errors.Is(err, errUsage) {
		t.Errorf("unknown flag: err = %v, want a usage error", err)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	content := filepath.Join(dir, "content.bin")
	if err := os.WriteFile(content, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.torrent")
	tests := []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"help"}, 0},
		{[]string{"frobnicate"}, 2},
		{[]string{"info"}, 2},
		{[]string{"info", "a", "b"}, 2},
		{[]string{"info", filepath.Join(dir, "missing.torrent")}, 1},
		{[]string{"info", content}, 1}, // not a torrent
		{[]string{"create"}, 2},
		{[]string{"create", content, "--piece-length", "12x"}, 2},
		{[]string{"create", content, "--piece-length", "20000", "-o", out}, 1},
		{[]string{"create", content, "-o", out, "--piece-length", "16384", "-a", "http://t/a"}, 0},
		{[]string{"create", content, "-o", out}, 1}, // exists
		{[]string{"create", "-f", content, "-o", out, "--private"}, 0},
		{[]string{"info", out}, 0},
		{[]string{"info", "-h"}, 0},
		{[]string{"info", "magnet:?xt=urn:btih:58b2cdd92185f159d186a341da87e8f3bb189031"}, 0},
		{[]string{"info", "magnet:?dn=no-hash"}, 1},
		// btt bench: usage errors are caught before anything is generated or dialled.
		{[]string{"bench"}, 2},
		{[]string{"bench", "nope"}, 2},
		{[]string{"bench", "transfer", "--size", "0"}, 2},
		{[]string{"bench", "transfer", "--piece-length", "20000"}, 2},
		{[]string{"bench", "transfer", "--transport", "sctp"}, 2},
		{[]string{"bench", "transfer", "extra"}, 2},
		{[]string{"bench", "connect", "--torrent", out}, 2},
		{[]string{"bench", "connect", "--torrent", out, "--peer", "127.0.0.1:1", "--peers", "0"}, 2},
		{[]string{"bench", "connect", "--torrent", out, "--peer", "127.0.0.1:1", "--duration", "-1"}, 2},
		{[]string{"bench", "connect", "--torrent", out, "--peer", "127.0.0.1:1", "--source-ip", "127.0.0.250", "--peers", "10"}, 2},
		{[]string{"bench", "connect", "--torrent", content, "--peer", "127.0.0.1:1"}, 1}, // not a torrent
		{[]string{"bench", "connect", "-h"}, 0},
	}
	// Commands print results to stdout; keep the test output quiet.
	stdout := os.Stdout
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	for _, tt := range tests {
		var stderr bytes.Buffer
		os.Stdout, os.Stderr = devnull, devnull
		got := run(context.Background(), tt.args, &stderr)
		os.Stdout, os.Stderr = stdout, stdout
		if got != tt.want {
			t.Errorf("btt %q: exit %d, want %d; stderr:\n%s", tt.args, got, tt.want, stderr.String())
		}
	}
	m, err := metainfo.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Info.Private || m.Info.TotalLength != 5 || m.CreationDate.IsZero() || m.CreatedBy != "btt" {
		t.Errorf("created torrent: private %v, size %d, date %v, created by %q", m.Info.Private, m.Info.TotalLength, m.CreationDate, m.CreatedBy)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"auto", 0, false}, {"", 0, false}, {"16384", 16384, false}, {"256K", 256 << 10, false},
		{"4m", 4 << 20, false}, {"0", 0, true}, {"-1", 0, true}, {"K", 0, true}, {"1G", 0, true},
		{"99999999999999999999", 0, true}, {"1024M", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v", tt.in, got, err)
		}
	}
}

// TestInfoFormat pins the output format of btt info on a torrent written by mktorrent 1.1.
func TestInfoFormat(t *testing.T) {
	m, err := metainfo.Load("../../wire/metainfo/testdata/mktorrent-multi.torrent")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := writeInfo(&b, m); err != nil {
		t.Fatal(err)
	}
	want := `name: d
info-hash: 58b2cdd92185f159d186a341da87e8f3bb189031
version: v1
private: yes
created by: mktorrent 1.1
created on: 2026-11-22T02:44:34Z
comment: comm
piece count: 7
piece size: 65536 (64.0 KiB)
total size: 400007 (390.6 KiB)
file count: 6
magnet: magnet:?xt=urn:btih:58b2cdd92185f159d186a341da87e8f3bb189031&dn=d&tr=http%3A%2F%2Ft%2Fa&tr=http%3A%2F%2Ft%2Fb&tr=http%3A%2F%2Ft%2Fc&ws=http%3A%2F%2Fws%2F
trackers:
  tier 1: http://t/a
  tier 2: http://t/b
  tier 2: http://t/c
web seeds:
  http://ws/
files:
       2 d/.dot
       2 d/.hid/h
       3 d/A.txt
  100000 d/b.bin
       0 d/empty
  300000 d/sub/a.bin
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("btt info output (-want +got):\n%s", diff)
	}

	hybrid, err := metainfo.Load("../../wire/metainfo/testdata/lt-hybrid-multi.torrent")
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := writeInfo(&b, hybrid); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"info-hash: b5830cdf2e6196b2978e617ebec045667bd2f581\n",
		"info-hash-v2: 94366b7437add556a4e3ead3ffd7534633b02f48ebf455dbcaca9ab0fcb8ee19\n",
		"version: hybrid\n",
		"  11920 multi/.pad/11920 [pad]\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("hybrid output lacks %q:\n%s", line, b.String())
		}
	}
}

func TestMagnetInfoFormat(t *testing.T) {
	mg, err := magnet.Parse("magnet:?xt=urn:btih:58b2cdd92185f159d186a341da87e8f3bb189031&xt=urn:btmh:1220" +
		"94366b7437add556a4e3ead3ffd7534633b02f48ebf455dbcaca9ab0fcb8ee19&dn=a%20b&tr=http%3A%2F%2Ft%2Fa&x.pe=127.0.0.1:1&so=0,2-3")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := writeMagnetInfo(&b, mg); err != nil {
		t.Fatal(err)
	}
	want := `name: a b
info-hash: 58b2cdd92185f159d186a341da87e8f3bb189031
info-hash-v2: 94366b7437add556a4e3ead3ffd7534633b02f48ebf455dbcaca9ab0fcb8ee19
trackers:
  http://t/a
peers:
  127.0.0.1:1
select-only:
  0
  2-3
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("btt info MAGNET output (-want +got):\n%s", diff)
	}
}

func TestQuoteIfNeeded(t *testing.T) {
	if got := quoteIfNeeded("a\nb"); got != `"a\nb"` {
		t.Errorf("got %s", got)
	}
	if got := quoteIfNeeded("plain name é"); got != "plain name é" {
		t.Errorf("got %s", got)
	}
}

// TestEncryptionFlag: --encryption takes off, prefer or require; anything else is a usage
// error that names the policy (not an unknown flag).
func TestEncryptionFlag(t *testing.T) {
	dir := t.TempDir()
	content, tor := filepath.Join(dir, "c.bin"), filepath.Join(dir, "c.torrent")
	if err := os.WriteFile(content, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), []string{"create", content, "-o", tor}, io.Discard); code != 0 {
		t.Fatalf("create: exit %d", code)
	}
	for _, cmd := range []string{"download", "seed"} {
		var stderr bytes.Buffer
		got := run(context.Background(), []string{cmd, tor, "--data", dir, "--listen", "127.0.0.1:0", "--encryption", "maybe"}, &stderr)
		if got != 2 || !strings.Contains(stderr.String(), `unknown encryption policy "maybe"`) {
			t.Errorf("btt %s --encryption maybe: exit %d, stderr %q", cmd, got, stderr.String())
		}
	}
}

// TestDaemonSpeedFlags: Speed flags given to btt daemon replace the saved settings only where
// given, and saved settings turn back into the same session configuration.
func TestDaemonSpeedFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var sf speedFlags
	sf.register(fs)
	if err := fs.Parse([]string{"--speed", "--balance", "7.5", "--spending-rate", "0.25"}); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	saved := daemon.SpeedSettings{Balance: "1", SpendingRate: 1, NoSell: true, ReserveCap: "3"}
	sf.override(&saved, set)
	want := daemon.SpeedSettings{Enabled: true, Balance: "7.5", SpendingRate: 0.25, NoSell: true, ReserveCap: "3"}
	if diff := cmp.Diff(want, saved); diff != "" {
		t.Errorf("after override (-want +got):\n%s", diff)
	}
	back := speedFlagsFrom(saved)
	cfg, err := back.config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Enabled || cfg.Sell || !cfg.AutoBid || cfg.SpendingRate != 250_000 || cfg.Reserve.Cap != 3_000_000 || cfg.Balance() != 7_500_000 {
		t.Errorf("config from saved settings: %+v, balance %d", cfg.Settings, cfg.Balance())
	}
}
