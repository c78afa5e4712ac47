package channel

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestAddressVectors(t *testing.T) {
	// Published examples: TRON's documentation pairs hex and base58 addresses; web3.js's
	// privateKeyToAccount example pairs a key with its Ethereum address (the same 20 bytes
	// TRON uses behind its 0x41 prefix).
	tests := []struct {
		key, hex, base58 string
	}{
		{hex: "418840e6c55b9ada326d211d818c34a994aeced808", base58: "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL"},
		{key: "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
			hex: "412c7536e3605d9c16a7a3d7b1898e529396a65c23"},
	}
	for _, tt := range tests {
		raw, _ := hex.DecodeString(tt.hex)
		var want Address
		copy(want[:], raw)
		if tt.key != "" {
			kb, _ := hex.DecodeString(tt.key)
			k, err := NewPrivateKey(kb)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.Address(); got != want {
				t.Errorf("key %s: address %x, want %s", tt.key, got, tt.hex)
			}
		}
		if tt.base58 != "" {
			if got := want.String(); got != tt.base58 {
				t.Errorf("String(%s) = %s, want %s", tt.hex, got, tt.base58)
			}
			got, err := ParseAddress(tt.base58)
			if err != nil || got != want {
				t.Errorf("ParseAddress(%s) = %x, %v", tt.base58, got, err)
			}
		}
		back, err := ParseAddress(want.String())
		if err != nil || back != want {
			t.Errorf("round trip %s: %x, %v", tt.hex, back, err)
		}
	}
}

func TestParseAddressRejects(t *testing.T) {
	good := "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL"
	var other Address // prefix 0x00: valid base58check, wrong network
	other[1] = 1
	for _, s := range []string{
		"", "T", good[:len(good)-1], good + "1", "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeM", // checksum
		"0NPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL", "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeLTNPeeaaFB7",
		other.String(), "lIO0lIO0lIO0lIO0lIO0lIO0lIO0lIO0lI",
	} {
		if _, err := ParseAddress(s); !errors.Is(err, ErrBadAddress) {
			t.Errorf("ParseAddress(%q) err = %v, want ErrBadAddress", s, err)
		}
	}
}

// base58 agrees with the big-number definition, leading zeros included, both ways.
func TestBase58MatchesBigInt(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		b := make([]byte, r.IntN(30))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		for j := range min(i%4, len(b)) {
			b[j] = 0
		}
		want := strings.Repeat("1", len(b)-len(bytes.TrimLeft(b, "\x00")))
		var digits []byte
		for n := new(big.Int).SetBytes(b); n.Sign() > 0; {
			m := new(big.Int)
			n.DivMod(n, big.NewInt(58), m)
			digits = append(digits, base58Alphabet[m.Int64()])
		}
		slices.Reverse(digits)
		want += string(digits)
		got := base58Encode(b)
		if got != want {
			t.Fatalf("base58Encode(%x) = %q, want %q", b, got, want)
		}
		back, err := base58Decode(got)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("base58Decode(%q) = %x, %v; want %x", got, back, err, b)
		}
	}
}
