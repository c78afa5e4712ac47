package wallet_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speedbt/btt/channel"
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

// InspectFile reads an encrypted wallet's address without the password.
func TestInspectFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.json")
	k, _ := channel.GenerateKey()
	if err := wallet.Save(p, k, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	in, err := wallet.InspectFile(p)
	if err != nil || in.Address != k.Address() || in.PublicKey != k.Public() || !in.Encrypted {
		t.Fatalf("InspectFile: %+v, %v", in, err)
	}
	if _, err := wallet.InspectFile(p + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
