package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
	"github.com/speedbt/btt/channel/ledger/boltstore"
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

// baseCoreSeconds is the work of one claim at the default 22 bits on the review machine
// (issue 13's attack review; BenchmarkFaucetWork re-measures the hash rate).
const baseCoreSeconds = 0.57

// TestFaucetBitsFor pins the difficulty formula with the default configuration: 22 bits,
// +1 per doubling of the rate above 60 claims per half-life, +floor(15 x spent fraction).
func TestFaucetBitsFor(t *testing.T) {
	const b = 1_000_000 * channel.UnitsPerBTT // the default budget
	flat := ledger.DefaultCoreConfig
	flat.FaucetSpentBits = 0
	noBudget := ledger.DefaultCoreConfig
	noBudget.FaucetBudget = 0
	for _, tc := range []struct {
		name   string
		cfg    ledger.CoreConfig
		load   float64
		issued uint64
		want   int // an honest claim costs 2^(want-22) x 0.57 core-seconds
	}{
		{"fresh", ledger.DefaultCoreConfig, 0, 0, 22},
		{"just under 1/15", ledger.DefaultCoreConfig, 0, b/15 - 1, 22},
		{"1/15 spent", ledger.DefaultCoreConfig, 0, b/15 + 1, 23},
		{"10% spent", ledger.DefaultCoreConfig, 0, b / 10, 23},               // 1.1 core-seconds
		{"50% spent", ledger.DefaultCoreConfig, 0, b / 2, 29},                // 73 core-seconds
		{"90% spent", ledger.DefaultCoreConfig, 0, b / 10 * 9, 35},           // 78 core-minutes
		{"last claim", ledger.DefaultCoreConfig, 0, b - 10_000_000, 36},      // 2.6 core-hours
		{"budget out", ledger.DefaultCoreConfig, 0, b, 37},                   // refused anyway
		{"past budget", ledger.DefaultCoreConfig, 0, 2 * b, 37},              // a lowered budget
		{"rate under 2x target", ledger.DefaultCoreConfig, 119.9, 0, 22},     // 60/h is free
		{"rate 2x target", ledger.DefaultCoreConfig, 120, 0, 23},             // +1 per doubling
		{"rate 4x and half spent", ledger.DefaultCoreConfig, 240, b / 2, 31}, // the terms add
		{"flood capped", ledger.DefaultCoreConfig, 1e30, b, 64},
		{"spent term off", flat, 0, b / 10 * 9, 22},
		{"no budget", noBudget, 0, b, 22},
	} {
		if got := tc.cfg.FaucetBitsFor(tc.load, tc.issued); got != tc.want {
			t.Errorf("%s: %d bits, want %d", tc.name, got, tc.want)
		}
	}
}

// TestFaucetDrainCost sums the work of every claim of the default budget at the free rate
// (the rate term only adds, so no pace is cheaper): at least 3 core-years at 0.57
// core-seconds per 2^22 hashes, while the first claim costs the base work.
func TestFaucetDrainCost(t *testing.T) {
	cfg := ledger.DefaultCoreConfig
	claims := cfg.FaucetBudget / cfg.FaucetAmount
	var works float64 // in base works (2^22 hashes)
	for i := range claims {
		issued := i * cfg.FaucetAmount
		n := cfg.FaucetBitsFor(0, issued)
		if fast := cfg.FaucetBitsFor(4*float64(cfg.FaucetTarget), issued); fast < n {
			t.Fatalf("claim %d: a faster pace needs %d bits, the free rate %d", i, fast, n)
		}
		works += math.Exp2(float64(n - cfg.FaucetBits))
	}
	const coreYear = 365.25 * 24 * 3600
	years := works * baseCoreSeconds / coreYear
	t.Logf("%d claims: %.0f base works, %.3g core-seconds, %.2f core-years", claims, works, works*baseCoreSeconds, years)
	if works != 218_438_865 { // docs/ledger.md and faucet.go quote it
		t.Errorf("drain costs %.0f base works, the docs say 218,438,865", works)
	}
	if years < 3 {
		t.Errorf("drain costs %.2f core-years, want >= 3", years)
	}
	if n := cfg.FaucetBitsFor(0, 0); n != cfg.FaucetBits {
		t.Errorf("the first claim needs %d bits, want the base %d", n, cfg.FaucetBits)
	}
}

// TestFaucetLateClaimCostsMore claims through a ledger on bbolt until its budget is nearly
// out: each claim needs exactly base + floor(K x spent) bits (one bit less is refused), a
// late claim needs more than an early one, and the difficulty read from the committed state
// after a restart (over HTTP, from the read snapshot) is the late one; a real client then
// solves it.
func TestFaucetLateClaimCostsMore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	tr := key(t, 0)
	cfg := ledger.DefaultConfig()
	cfg.Treasury = tr.Address()
	cfg.Core.ReceiptWindow = 0
	cfg.Core.FaucetBits, cfg.Core.FaucetTarget, cfg.Core.FaucetSpentBits = 2, 0, 6
	cfg.Core.FaucetBudget = 10 * cfg.Core.FaucetAmount
	open := func() (*ledger.Ledger, func()) {
		st, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ledger.Open(ctx, st, cfg)
		if err != nil {
			st.Close()
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { l.Run(rctx); close(done) }()
		return l, func() { cancel(); <-done; st.Close() }
	}
	l, stop := open()
	bits := func() int {
		b, err := l.Do(ctx, ledger.GetInfo{})
		if err != nil {
			t.Fatal(err)
		}
		var in ledger.Info
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatal(err)
		}
		return in.FaucetBits
	}
	var need []int
	for i := range 9 { // claims 0..8 of 10; the 9th (index 9) is left for the client
		want := 2 + 6*i/10
		n := bits()
		if n != want {
			t.Fatalf("claim %d (%d%% spent): %d bits, want %d", i, 10*i, n, want)
		}
		a := key(t, 200+i).Address()
		if _, err := l.Do(ctx, ledger.Faucet{Address: a, Nonce: uint64(i), Digest: workDigest(n-1, uint64(i))}); !errors.Is(err, ledger.ErrBadWork) {
			t.Fatalf("claim %d with %d bits (need %d): %v", i, n-1, n, err)
		}
		if _, err := l.Do(ctx, ledger.Faucet{Address: a, Nonce: uint64(i), Digest: workDigest(n, uint64(i))}); err != nil {
			t.Fatalf("claim %d with %d bits: %v", i, n, err)
		}
		need = append(need, n)
	}
	if need[len(need)-1] <= need[0] {
		t.Fatalf("late claim needs %d bits, early %d", need[len(need)-1], need[0])
	}
	stop()

	l, stop = open()
	defer stop()
	srv := httptest.NewServer(ledger.NewHandler(l))
	defer srv.Close()
	cl := ledger.NewClient(srv.URL, srv.Client())
	in, err := cl.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 + 6*9/10; in.FaucetBits != want {
		t.Fatalf("after a restart: %d bits, want %d (90%% spent)", in.FaucetBits, want)
	}
	r, err := cl.Faucet(ctx, key(t, 300))
	if err != nil {
		t.Fatalf("client claim at %d bits: %v", in.FaucetBits, err)
	}
	if uint64(r.Amount) != cfg.Core.FaucetAmount {
		t.Fatalf("granted %d, want %d", r.Amount, cfg.Core.FaucetAmount)
	}
}

// BenchmarkFaucetWork measures the hash rate of the faucet's proof of work on one core and
// reports the core-seconds of one base claim (2^22 hashes): the figure the drain cost uses.
func BenchmarkFaucetWork(b *testing.B) {
	k, err := channel.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	req := ledger.FaucetRequest{Nonce: 1}
	for b.Loop() {
		req.Solve(lid, k, 257, 1<<12) // never found: exactly 4,096 hashes
	}
	perHash := b.Elapsed().Seconds() / float64(b.N) / (1 << 12)
	b.ReportMetric(perHash*(1<<22), "core-s/claim@22bits")
}
