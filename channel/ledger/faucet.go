package ledger

import (
	"math"
	"math/bits"
	"time"
)

// The faucet's difficulty rises with its claim rate, so that draining it with fresh keys
// (a Sybil attack: one key per claim costs nothing) costs work that grows with the square
// of the drain rate.
//
// The ledger keeps the claim load: the number of recent claims, decayed by half every
// FaucetHalfLife (stored in Meta, so it survives restarts and failovers). A claim needs
//
//	FaucetBits + max(0, floor(log2(load / FaucetTarget)))
//
// leading zero bits: up to FaucetTarget claims per half-life cost the base work; every
// doubling of the rate above that doubles the work of each claim. Draining N claims in
// time H at base cost c (one claim at FaucetBits) costs about c * N * (N / (T * H / h))
// (T the target per half-life h). With the defaults (22 bits ~ 0.57 core-seconds on the
// review machine, 60 claims per hour, 10 BTT each, 1,000,000 BTT budget = 100,000 claims):
// at the target rate the budget lasts 69 days; drained in 16 hours (6,250 claims/hour, 104x
// the target, +6 bits) each claim costs 64 x 0.57 = 36 core-seconds, the drain ~1,000
// core-hours instead of 16; in one hour, +10 bits, ~16,000 core-hours.

// Faucet difficulty defaults: 60 claims per hour at the base work.
const (
	DefaultFaucetTarget   = 60
	DefaultFaucetHalfLife = time.Hour
)

// faucetLoadScale is the fixed-point scale of Meta.FaucetLoad (thousandths of a claim).
const faucetLoadScale = 1000

// maxFaucetBits caps the difficulty (a digest has 256 bits; 64 extra bits is already
// beyond any budget).
const maxFaucetBits = 64

// decayedLoad returns the load (in claims) at now.
func (cfg *CoreConfig) decayedLoad(m *Meta, now uint64) float64 {
	load := float64(m.FaucetLoad) / faucetLoadScale
	if cfg.FaucetHalfLife > 0 && now > m.FaucetLoadAt {
		load *= math.Exp2(-float64(now-m.FaucetLoadAt) / cfg.FaucetHalfLife.Seconds())
	}
	return load
}

// FaucetDifficulty returns the leading zero bits a faucet claim needs at now.
func (cfg *CoreConfig) FaucetDifficulty(m *Meta, now time.Time) int {
	return cfg.faucetBits(m, unixSeconds(now))
}

func (cfg *CoreConfig) faucetBits(m *Meta, now uint64) int {
	if cfg.FaucetTarget == 0 {
		return cfg.FaucetBits
	}
	extra := 0
	if r := cfg.decayedLoad(m, now) / float64(cfg.FaucetTarget); r >= 2 {
		extra = bits.Len64(uint64(r)) - 1 // floor(log2(r))
	}
	return min(cfg.FaucetBits+extra, maxFaucetBits)
}

// addClaim counts one claim at now.
func (cfg *CoreConfig) addClaim(m *Meta, now uint64) {
	load := cfg.decayedLoad(m, now) + 1
	m.FaucetLoad, m.FaucetLoadAt = uint64(load*faucetLoadScale), now
}
