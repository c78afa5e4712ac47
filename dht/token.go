package dht

import (
	"crypto/sha1"
	"crypto/subtle"
	"net/netip"
	"time"
)

// tokenRotate is how often the token secret changes. BEP 5: tokens up to ten minutes
// old are accepted, so a token is checked against the current and the previous secret.
const tokenRotate = 5 * time.Minute

const tokenLen = 8

// tokens makes and checks announce tokens: a hash of the requester's IP and a secret
// that rotates, so a token proves the announcer received our get_peers reply at that
// IP recently, and nothing needs to be stored per requester.
type tokens struct {
	cur, prev [20]byte
	rotated   time.Time
}

func (t *tokens) rotate(now time.Time, fresh func() [20]byte) {
	switch {
	case t.rotated.IsZero() || now.Sub(t.rotated) >= 2*tokenRotate:
		t.prev, t.cur = fresh(), fresh()
		t.rotated = now
	case now.Sub(t.rotated) >= tokenRotate:
		t.prev, t.cur = t.cur, fresh()
		t.rotated = now
	}
}

func tokenFor(secret [20]byte, ip netip.Addr) []byte {
	b := ip.Unmap().As16()
	h := sha1.New()
	h.Write(secret[:])
	h.Write(b[:])
	return h.Sum(nil)[:tokenLen]
}

func (t *tokens) make(ip netip.Addr) []byte { return tokenFor(t.cur, ip) }

func (t *tokens) valid(tok []byte, ip netip.Addr) bool {
	if len(tok) != tokenLen {
		return false
	}
	return subtle.ConstantTimeCompare(tok, tokenFor(t.cur, ip)) == 1 ||
		subtle.ConstantTimeCompare(tok, tokenFor(t.prev, ip)) == 1
}
