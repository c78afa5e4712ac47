package mse

import "fmt"

// Policy is a session's stance on encryption, as in `btt --encryption`.
type Policy uint8

const (
	// Off speaks plaintext BitTorrent only: no MSE handshake is sent, and incoming MSE
	// handshakes are refused. The zero value, so existing configurations keep a plain wire.
	Off Policy = iota
	// Prefer dials with MSE offering RC4 and plaintext (falling back to a plaintext
	// handshake when the peer refuses MSE), accepts both kinds of incoming connection,
	// and picks RC4 whenever the peer offers it.
	Prefer
	// Require dials and accepts only MSE with RC4: plaintext peers are refused.
	Require
)

// ParsePolicy reads "off", "prefer" or "require".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "off":
		return Off, nil
	case "prefer":
		return Prefer, nil
	case "require":
		return Require, nil
	}
	return Off, fmt.Errorf("mse: unknown encryption policy %q (want off, prefer or require)", s)
}

func (p Policy) String() string {
	switch p {
	case Off:
		return "off"
	case Prefer:
		return "prefer"
	case Require:
		return "require"
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// Methods is what the policy lets a handshake provide or accept.
func (p Policy) Methods() Method {
	switch p {
	case Prefer:
		return Plaintext | RC4
	case Require:
		return RC4
	}
	return 0
}

// AcceptsPlaintextHandshake reports whether an incoming plain BitTorrent handshake is served.
func (p Policy) AcceptsPlaintextHandshake() bool { return p != Require }

// AcceptsMSE reports whether an incoming MSE handshake is answered.
func (p Policy) AcceptsMSE() bool { return p != Off }

// DetectLen is how many bytes of an incoming connection tell a plaintext handshake from MSE.
const DetectLen = 20

// IsPlaintextHandshake reports whether the first DetectLen bytes of a connection start a
// plain BitTorrent handshake. An MSE initiator's first bytes are its random public key; the
// chance that they spell the protocol string is 2^-160.
func IsPlaintextHandshake(first []byte) bool {
	return len(first) >= DetectLen && string(first[:DetectLen]) == "\x13BitTorrent protocol"
}
