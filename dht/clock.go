package dht

import "time"

// Clock is the node's source of time and timers. The simulator injects a virtual clock;
// SystemClock is the real one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once, after d, on a goroutine of the clock's choosing.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not happened; it reports whether it did so.
	Stop() bool
}

// SystemClock is the wall clock of the standard library.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
