package ledger_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/speedbt/btt/channel/ledger"
)

// workDigest returns a digest with exactly n leading zero bits, distinct per i (the core
// takes the faucet request's digest as given; the HTTP layer computed it).
func workDigest(n int, i uint64) [32]byte {
	var d [32]byte
	for j := 8; j < 16; j++ {
		d[j] = byte(i >> (8 * (j - 8)))
	}
	d[n/8] |= 0x80 >> (n % 8)
	return d
}

// TestFaucetDifficultyRises: claims from fresh keys (a Sybil attack) raise the work each
// claim needs, a bit per doubling of the rate above the target, and the difficulty falls
// back as the claims age.
func TestFaucetDifficultyRises(t *testing.T) {
	cfg := ledger.DefaultCoreConfig
	cfg.ReceiptWindow = 0
	cfg.FaucetBits, cfg.FaucetTarget, cfg.FaucetHalfLife = 4, 2, time.Hour
	c, err := ledger.NewCore(cfg, ledger.Genesis(lid, key(t, 0).Address()))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(t0, 0)
	bits := func() int {
		b, err := c.Apply(now, ledger.GetInfo{})
		if err != nil {
			t.Fatal(err)
		}
		var in ledger.Info
		json.Unmarshal(b, &in)
		return in.FaucetBits
	}
	claim := func(i int, work int) error {
		_, err := c.Apply(now, ledger.Faucet{Address: key(t, 100+i).Address(), Nonce: uint64(i), Digest: workDigest(work, uint64(i))})
		return err
	}
	// load k claims within the hour: need 4 + floor(log2(k/2)) for k >= 4.
	want := map[int]int{0: 4, 1: 4, 3: 4, 4: 5, 7: 5, 8: 6, 16: 7, 32: 8}
	for i := range 33 {
		if w, ok := want[i]; ok && bits() != w {
			t.Fatalf("after %d claims: %d bits, want %d", i, bits(), w)
		}
		need := bits()
		if err := claim(i, need-1); !errors.Is(err, ledger.ErrBadWork) {
			t.Fatalf("claim %d with %d bits (need %d): %v", i, need-1, need, err)
		}
		if err := claim(i, need); err != nil {
			t.Fatalf("claim %d with %d bits: %v", i, need, err)
		}
	}
	now = now.Add(2 * time.Hour) // two half-lives: 33 claims weigh 8.25
	if got := bits(); got != 6 {
		t.Fatalf("two half-lives later: %d bits, want 6", got)
	}
	now = now.Add(10 * time.Hour)
	if got := bits(); got != 4 {
		t.Fatalf("much later: %d bits, want the base 4", got)
	}
}
