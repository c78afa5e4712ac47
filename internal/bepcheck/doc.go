// Package bepcheck holds the test that keeps docs/bep-speed.md honest: it rebuilds the
// draft's complete example exchange, from the handshake to the settlement on the ledger,
// with the code of packages wire, channel and channel/ledger, and compares it byte for byte
// with the hex and JSON printed in the draft. It has no non-test code.
package bepcheck
