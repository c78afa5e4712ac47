package wallet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
	"github.com/speedbt/btt/channel/wallet"
)

func TestEncodeDecode(t *testing.T) {
	k, err := channel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "correct horse"} {
		b, err := wallet.Encode(k, []byte(pw))
		if err != nil {
			t.Fatal(err)
		}
		if pw != "" && bytes.Contains(b, []byte(strings.ToLower(strings.TrimLeft(hexOf(k.Bytes()), "0")))) {
			t.Fatal("encrypted file holds the key in clear")
		}
		in, err := wallet.Inspect(b)
		if err != nil || in.Address != k.Address() || in.Encrypted != (pw != "") {
			t.Fatalf("Inspect: %+v, %v", in, err)
		}
		got, err := wallet.Decode(b, []byte(pw))
		if err != nil || got.Public() != k.Public() {
			t.Fatalf("Decode(pw %q): %v", pw, err)
		}
		if pw != "" {
			if _, err := wallet.Decode(b, []byte("wrong")); !errors.Is(err, wallet.ErrWrongPassword) {
				t.Errorf("wrong password: %v", err)
			}
			if _, err := wallet.Decode(b, nil); !errors.Is(err, wallet.ErrNeedPassword) {
				t.Errorf("no password: %v", err)
			}
		}
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}

func TestDecodeRejectsTampering(t *testing.T) {
	k, _ := channel.GenerateKey()
	other, _ := channel.GenerateKey()
	enc, _ := wallet.Encode(k, []byte("pw"))
	plain, _ := wallet.Encode(k, nil)
	edit := func(src []byte, f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(src, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	crypto := func(f func(c map[string]any)) []byte {
		return edit(enc, func(m map[string]any) { f(m["crypto"].(map[string]any)) })
	}
	tests := map[string]struct {
		data []byte
		want error
	}{
		"not json":      {[]byte("nope"), wallet.ErrBadFile},
		"huge":          {bytes.Repeat([]byte(" "), 1<<17), wallet.ErrBadFile},
		"version":       {edit(plain, func(m map[string]any) { m["version"] = 2 }), wallet.ErrBadFile},
		"other address": {edit(enc, func(m map[string]any) { m["address"] = other.Address().String() }), wallet.ErrBadFile},
		"swapped identity": {edit(enc, func(m map[string]any) {
			m["address"] = other.Address().String()
			m["public_key"] = other.Public().String()
		}), wallet.ErrWrongPassword},
		"other key":        {edit(plain, func(m map[string]any) { m["key"] = hexOf(other.Bytes()) }), wallet.ErrBadFile},
		"both":             {edit(enc, func(m map[string]any) { m["key"] = hexOf(k.Bytes()) }), wallet.ErrBadFile},
		"huge scrypt n":    {crypto(func(c map[string]any) { c["n"] = 1 << 30 }), wallet.ErrBadFile},
		"scrypt n not 2^k": {crypto(func(c map[string]any) { c["n"] = 1000 }), wallet.ErrBadFile},
		"huge r*p":         {crypto(func(c map[string]any) { c["r"] = 1024; c["p"] = 1024 }), wallet.ErrBadFile},
		"cipher":           {crypto(func(c map[string]any) { c["cipher"] = "rot13" }), wallet.ErrBadFile},
		"ciphertext":       {crypto(func(c map[string]any) { s := c["ciphertext"].(string); c["ciphertext"] = "00" + s[2:] }), wallet.ErrWrongPassword},
		"short nonce":      {crypto(func(c map[string]any) { c["nonce"] = "00" }), wallet.ErrBadFile},
	}
	for name, tt := range tests {
		if _, err := wallet.Decode(tt.data, []byte("pw")); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
}

func TestSaveRefusesOverwrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.json")
	k, _ := channel.GenerateKey()
	if err := wallet.Save(p, k, nil); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	k2, _ := channel.GenerateKey()
	if err := wallet.Save(p, k2, nil); err == nil {
		t.Fatal("Save overwrote an existing wallet")
	}
	if got, err := wallet.Load(p, nil); err != nil || got.Public() != k.Public() {
		t.Fatalf("Load: %v", err)
	}
}

// TestCLI drives "btt wallet" against a real ledger (HTTP on loopback, bbolt file).
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	st, err := boltstore.Open(filepath.Join(dir, "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tk, _ := channel.GenerateKey()
	cfg := ledger.DefaultConfig()
	cfg.Treasury = tk.Address()
	cfg.Core.FaucetBits = 6
	l, err := ledger.Open(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go l.Run(ctx)
	srv := httptest.NewServer(ledger.NewHandler(l))
	defer srv.Close()

	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := wallet.Run(ctx, args, &out, &errb)
		return out.String(), err
	}
	w1, w2 := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	out, err := run("new", "--wallet", w1, "--password-file", pwFile)
	if err != nil || !strings.Contains(out, "encrypted: yes") {
		t.Fatalf("new: %q, %v", out, err)
	}
	addr1 := regexp.MustCompile(`address: (T\w+)`).FindStringSubmatch(out)[1]
	if _, err := run("new", "--wallet", w2); err != nil {
		t.Fatal(err)
	}
	if _, err := run("new", "--wallet", w2); err == nil {
		t.Fatal("new overwrote a wallet")
	}
	out, err = run("show", "--wallet", w1, "--ledger", srv.URL)
	if err != nil || !strings.Contains(out, "address: "+addr1) || !strings.Contains(out, "balance: 0.000000 BTT") {
		t.Fatalf("show: %q, %v", out, err)
	}
	if _, err := run("faucet", "--wallet", w1, "--ledger", srv.URL); !errors.Is(err, wallet.ErrNeedPassword) {
		t.Fatalf("faucet without password: %v", err)
	}
	out, err = run("faucet", "--wallet", w1, "--ledger", srv.URL, "--password-file", pwFile)
	if err != nil || !strings.Contains(out, "received: 10.000000 BTT") {
		t.Fatalf("faucet: %q, %v", out, err)
	}
	out, err = run("show", "--wallet", w2)
	if err != nil {
		t.Fatal(err)
	}
	addr2 := regexp.MustCompile(`address: (T\w+)`).FindStringSubmatch(out)[1]
	out, err = run("transfer", "--wallet", w1, "--ledger", srv.URL, "--password-file", pwFile, "--to", addr2, "--amount", "2.5")
	if err != nil || !strings.Contains(out, "sent: 2.500000 BTT") {
		t.Fatalf("transfer: %q, %v", out, err)
	}
	for w, want := range map[string]string{w1: "7.500000", w2: "2.500000"} {
		out, err := run("balance", "--wallet", w, "--ledger", srv.URL)
		if err != nil || !strings.Contains(out, "\nbalance: "+want+" BTT\n") {
			t.Fatalf("balance %s: %q, %v", w, out, err)
		}
	}
	out, err = run("transfer", "--wallet", w2, "--ledger", srv.URL, "--to", addr1, "--amount", "3")
	if !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("overdraft: %q, %v", out, err)
	}
	var ue *wallet.UsageError
	for _, args := range [][]string{
		{}, {"bogus", "--wallet", w1}, {"balance"}, {"balance", "--wallet", w1},
		{"transfer", "--wallet", w1, "--ledger", srv.URL, "--to", "nope", "--amount", "1"},
		{"transfer", "--wallet", w1, "--ledger", srv.URL, "--to", addr2, "--amount", "1.0000001"},
		{"transfer", "--wallet", w1, "--ledger", srv.URL, "--to", addr2, "--amount", "-1"},
	} {
		if _, err := run(args...); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
