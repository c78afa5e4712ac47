//go:build race

package sim

// raceEnabled: the race detector is on, and slows the simulator about fourfold.
const raceEnabled = true
