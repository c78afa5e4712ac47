package ledger

import (
	"math"
	"math/bits"
	"time"
)

// The faucet's difficulty rises with its claim rate and with the share of its budget already
// paid out, so that draining it with fresh keys (a Sybil attack: one key per claim costs
// nothing) costs core-years whatever the pace, while the first claims stay cheap.
//
// A claim needs FaucetBitsFor(load, issued) leading zero bits:
//
//	FaucetBits + max(0, floor(log2(load / FaucetTarget))) + floor(FaucetSpentBits * issued / FaucetBudget)
//
// The rate term: the ledger keeps the claim load, the number of recent claims decayed by half
// every FaucetHalfLife; up to FaucetTarget claims per half-life cost nothing extra, and every
// doubling of the rate above that doubles the work of each claim (a fast drain pays the
// square of its speed).
//
// The spent term: the work doubles each time another 1/FaucetSpentBits of the budget is paid
// out, whatever the pace. With the defaults (22 bits ~ 0.57 core-seconds on the review
// machine, 10 BTT per claim, 1,000,000 BTT = 100,000 claims, 15 spent bits), summed over every
// claim at the free rate: sum 2^floor(15 i / 100,000) = 218,438,865 base works (2,184x the
// 100,000 of a flat difficulty), ~124,500,000 core-seconds, ~3.9 core-years. An honest claim
// costs 1x the base work while less than 1/15 of the budget is out, 2x at 10 %, 128x (73
// core-seconds) at 50 %, 8,192x (~78 core-minutes) at 90 %. TestFaucetDrainCost sums it.
//
// Both inputs come from the ledger's committed Meta (FaucetLoad and FaucetIssued), so the
// difficulty survives restarts and is the same on a failover standby.

// Faucet difficulty defaults: 60 claims per hour at the base work; 15 doublings of the work
// across the budget.
const (
	DefaultFaucetTarget    = 60
	DefaultFaucetHalfLife  = time.Hour
	DefaultFaucetSpentBits = 15
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
	return cfg.FaucetBitsFor(cfg.decayedLoad(m, now), m.FaucetIssued)
}

// FaucetBitsFor is the difficulty as a pure function of the claim load (recent claims,
// decayed) and the total already issued: the formula above, capped at 64 bits.
func (cfg *CoreConfig) FaucetBitsFor(load float64, issued uint64) int {
	n := cfg.FaucetBits
	if cfg.FaucetTarget > 0 {
		if r := load / float64(cfg.FaucetTarget); r >= 2 {
			n += bits.Len64(uint64(min(r, math.MaxUint32))) - 1 // floor(log2(r))
		}
	}
	if k := cfg.FaucetSpentBits; k > 0 && cfg.FaucetBudget > 0 {
		k = min(k, maxFaucetBits)
		if issued >= cfg.FaucetBudget {
			n += k
		} else {
			// floor(k * issued / budget) in 128 bits: the high word is below the budget
			// because issued < budget.
			hi, lo := bits.Mul64(uint64(k), issued)
			q, _ := bits.Div64(hi, lo, cfg.FaucetBudget)
			n += int(q)
		}
	}
	return min(n, maxFaucetBits)
}

// addClaim counts one claim at now.
func (cfg *CoreConfig) addClaim(m *Meta, now uint64) {
	load := cfg.decayedLoad(m, now) + 1
	m.FaucetLoad, m.FaucetLoadAt = uint64(load*faucetLoadScale), now
}
