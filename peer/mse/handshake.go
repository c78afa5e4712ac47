package mse

import (
	"bytes"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Method is a payload stream method; a set of them is a bit mask, as in crypto_provide.
type Method uint32

const (
	Plaintext Method = 0x01 // the payload stream is sent as is after the handshake
	RC4       Method = 0x02 // the payload stream is RC4-encrypted
)

func (m Method) String() string {
	switch m {
	case Plaintext:
		return "plaintext"
	case RC4:
		return "rc4"
	case Plaintext | RC4:
		return "plaintext|rc4"
	}
	return fmt.Sprintf("method(%#x)", uint32(m))
}

// Sizes from the specification.
const (
	maxPad  = 512 // PadA, PadB, PadC and PadD are each at most 512 bytes
	vcLen   = 8   // the verification constant, eight zero bytes
	discard = 1024
	// MaxIA is the largest initial payload a handshake may carry (its length is 16 bits).
	MaxIA = 1<<16 - 1
	// MaxHandshakeBytes bounds what one attempt may make us buffer: the longest legal
	// responder-side handshake (Ya, PadA, the two hashes, VC, crypto_provide, PadC and its
	// length, the IA and its length). An initiator needs less. Anything longer is refused.
	MaxHandshakeBytes = KeyLen + maxPad + 20 + 20 + vcLen + 4 + 2 + maxPad + 2 + MaxIA
)

// Errors a handshake ends with; callers branch on them to decide on a plaintext retry or a ban.
var (
	ErrBadKey         = errors.New("mse: degenerate Diffie-Hellman key")
	ErrNoSync         = errors.New("mse: synchronisation pattern not found in the padding window")
	ErrUnknownTorrent = errors.New("mse: peer asked for a torrent we do not serve")
	ErrBadVC          = errors.New("mse: bad verification constant")
	ErrNoMethod       = errors.New("mse: no acceptable crypto method in common")
	ErrBadPad         = errors.New("mse: padding longer than 512 bytes")
	ErrTooLong        = errors.New("mse: handshake longer than its bound")
)

// InitiatorConfig configures the side that opens the connection (A in the specification).
type InitiatorConfig struct {
	SKEY    [20]byte // the info-hash of the torrent we want
	Provide Method   // the methods we accept; the responder picks one
	IA      []byte   // initial payload sent inside the handshake (at most MaxIA bytes); may be nil
	Rand    io.Reader
}

// ResponderConfig configures the side that accepted the connection (B).
type ResponderConfig struct {
	// Lookup returns the SKEY whose Req2 is req2, if we serve that torrent.
	Lookup func(req2 [20]byte) (skey [20]byte, ok bool)
	// Allow is the set of methods we accept; RC4 is chosen over plaintext when both are
	// provided and allowed (a peer that offers encryption gets it).
	Allow Method
	Rand  io.Reader
}

// Result is what a finished handshake agreed on.
type Result struct {
	Method Method
	SKEY   [20]byte
	// IA is the initiator's initial payload, decrypted (responder side). It is the start of
	// the payload stream (clients put their BitTorrent handshake there), so Rest begins with it.
	IA []byte
	// Rest are payload bytes that arrived with the end of the handshake, already decrypted:
	// on the responder the IA, then anything after it.
	Rest []byte
	// enc and dec are the payload stream ciphers; nil for plaintext.
	enc, dec *rc4.Cipher
}

type state uint8

const (
	sStart state = iota
	sPeerKey
	sSync
	sReq2
	sProvide // responder: VC, crypto_provide, len(PadC)
	sPadC    // responder: PadC, len(IA)
	sIA
	sSelect // initiator: crypto_select, len(PadD)
	sPadD
	sDone
	sFailed
)

// Handshaker is one side of an MSE handshake as a pure state machine. Feed it received bytes
// with Recv, call Step for bytes to send, until Step reports done; then Result. It does no I/O
// and keeps at most MaxHandshakeBytes buffered. Not safe for concurrent use.
type Handshaker struct {
	initiator bool
	ic        InitiatorConfig
	rc        ResponderConfig

	st   state
	err  error
	in   []byte // received, not yet consumed
	keys keyPair
	s    [KeyLen]byte

	pattern []byte // what sSync looks for: HASH('req1', S), or ENCRYPT(VC)
	enc     *rc4.Cipher
	dec     *rc4.Cipher

	provide Method // responder: what the initiator offered
	padLen  int    // PadC or PadD length being skipped
	iaLen   int
	res     Result
}

// NewInitiator starts the handshake of the side that dialled.
func NewInitiator(cfg InitiatorConfig) *Handshaker {
	h := &Handshaker{initiator: true, ic: cfg}
	if len(cfg.IA) > MaxIA {
		h.fail(ErrTooLong)
	}
	if cfg.Provide&(Plaintext|RC4) == 0 {
		h.fail(ErrNoMethod)
	}
	return h
}

// NewResponder starts the handshake of the side that accepted. Bytes already read from the
// connection (while telling MSE from a plaintext handshake) go in with Recv.
func NewResponder(cfg ResponderConfig) *Handshaker {
	h := &Handshaker{rc: cfg}
	if cfg.Allow&(Plaintext|RC4) == 0 {
		h.fail(ErrNoMethod)
	}
	return h
}

func (h *Handshaker) fail(err error) error {
	if h.err == nil {
		h.err = err
		h.st = sFailed
		h.in = nil
	}
	return h.err
}

// Room is how many more bytes Recv will take now.
func (h *Handshaker) Room() int { return MaxHandshakeBytes - len(h.in) }

// Recv adds received bytes. Past the bound, the handshake fails with ErrTooLong.
func (h *Handshaker) Recv(p []byte) error {
	if h.err != nil {
		return h.err
	}
	if len(p) > h.Room() {
		return h.fail(ErrTooLong)
	}
	h.in = append(h.in, p...)
	return nil
}

// Result is the outcome of a finished handshake (Step reported done).
func (h *Handshaker) Result() *Result {
	if h.st != sDone {
		return nil
	}
	return &h.res
}

// Step advances as far as the received bytes allow. It returns bytes to send (owned by the
// caller), whether the handshake is done, or why it failed.
func (h *Handshaker) Step() (out []byte, done bool, err error) {
	for {
		if h.err != nil {
			return out, false, h.err
		}
		var progressed bool
		out, progressed = h.step(out)
		if h.st == sDone {
			return out, true, nil
		}
		if !progressed {
			return out, false, h.err
		}
	}
}

// take consumes n bytes if they have arrived.
func (h *Handshaker) take(n int) ([]byte, bool) {
	if len(h.in) < n {
		return nil, false
	}
	b := h.in[:n:n]
	h.in = h.in[n:]
	return b, true
}

func (h *Handshaker) random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(h.rand(), b); err != nil {
		h.fail(err)
	}
	return b
}

func (h *Handshaker) rand() io.Reader {
	if h.initiator {
		return h.ic.Rand
	}
	return h.rc.Rand
}

// padLength draws a PadA/PadB length in [0, 512].
func (h *Handshaker) padLength() int {
	b := h.random(2)
	return int(binary.BigEndian.Uint16(b)) % (maxPad + 1)
}

func (h *Handshaker) step(out []byte) ([]byte, bool) {
	switch h.st {
	case sStart:
		// A responder computes nothing until the initiator's key is in: a port scan or a
		// plaintext stranger costs no modular exponentiation.
		if !h.initiator && len(h.in) < KeyLen {
			return out, false
		}
		kp, err := newKeyPair(h.rand())
		if err != nil {
			h.fail(err)
			return out, false
		}
		h.keys = kp
		out = append(out, kp.pub[:]...)
		out = append(out, h.random(h.padLength())...)
		h.st = sPeerKey
		return out, true

	case sPeerKey:
		y, ok := h.take(KeyLen)
		if !ok {
			return out, false
		}
		s, err := h.keys.secret(y)
		if err != nil {
			h.fail(err)
			return out, false
		}
		h.s = s
		if h.initiator {
			out = h.initiatorKeys(out)
		} else {
			p := hash([]byte("req1"), s[:])
			h.pattern = p[:]
		}
		h.st = sSync
		return out, true

	case sSync:
		// The pattern follows a pad of at most 512 bytes: search that window and no further.
		if i := bytes.Index(h.in, h.pattern); i >= 0 && i <= maxPad {
			h.in = h.in[i+len(h.pattern):]
			if h.initiator {
				h.st = sSelect
			} else {
				h.st = sReq2
			}
			return out, true
		}
		if len(h.in) >= maxPad+len(h.pattern) {
			h.fail(ErrNoSync)
		}
		return out, false

	case sReq2:
		x, ok := h.take(20)
		if !ok {
			return out, false
		}
		req3 := hash([]byte("req3"), h.s[:])
		var req2 [20]byte
		for i := range req2 {
			req2[i] = x[i] ^ req3[i]
		}
		skey, found := h.rc.Lookup(req2)
		if !found {
			h.fail(ErrUnknownTorrent)
			return out, false
		}
		h.res.SKEY = skey
		h.dec = newCipher("keyA", h.s, skey)
		h.enc = newCipher("keyB", h.s, skey)
		h.st = sProvide
		return out, true

	case sProvide:
		b, ok := h.take(vcLen + 4 + 2)
		if !ok {
			return out, false
		}
		h.dec.XORKeyStream(b, b)
		if !allZero(b[:vcLen]) {
			h.fail(ErrBadVC)
			return out, false
		}
		h.provide = Method(binary.BigEndian.Uint32(b[vcLen:]))
		h.padLen = int(binary.BigEndian.Uint16(b[vcLen+4:]))
		if h.padLen > maxPad {
			h.fail(ErrBadPad)
			return out, false
		}
		h.st = sPadC
		return out, true

	case sPadC:
		b, ok := h.take(h.padLen + 2)
		if !ok {
			return out, false
		}
		h.dec.XORKeyStream(b, b)
		h.iaLen = int(binary.BigEndian.Uint16(b[h.padLen:]))
		h.st = sIA
		return out, true

	case sIA:
		b, ok := h.take(h.iaLen)
		if !ok {
			return out, false
		}
		h.dec.XORKeyStream(b, b)
		h.res.IA = b
		sel := choose(h.provide, h.rc.Allow)
		if sel == 0 {
			h.fail(fmt.Errorf("%w: peer provides %v, we allow %v", ErrNoMethod, h.provide, h.rc.Allow))
			return out, false
		}
		// ENCRYPT(VC, crypto_select, len(PadD), PadD) with an empty PadD.
		msg := make([]byte, vcLen+4+2)
		binary.BigEndian.PutUint32(msg[vcLen:], uint32(sel))
		h.enc.XORKeyStream(msg, msg)
		out = append(out, msg...)
		h.finish(sel)
		return out, true

	case sSelect:
		b, ok := h.take(4 + 2)
		if !ok {
			return out, false
		}
		h.dec.XORKeyStream(b, b)
		sel := Method(binary.BigEndian.Uint32(b))
		if bits.OnesCount32(uint32(sel)) != 1 || sel&h.ic.Provide == 0 {
			h.fail(fmt.Errorf("%w: peer selected %v of %v", ErrNoMethod, sel, h.ic.Provide))
			return out, false
		}
		h.res.Method = sel
		h.padLen = int(binary.BigEndian.Uint16(b[4:]))
		if h.padLen > maxPad {
			h.fail(ErrBadPad)
			return out, false
		}
		h.st = sPadD
		return out, true

	case sPadD:
		b, ok := h.take(h.padLen)
		if !ok {
			return out, false
		}
		h.dec.XORKeyStream(b, b)
		h.res.SKEY = h.ic.SKEY
		h.finish(h.res.Method)
		return out, true
	}
	return out, false
}

// initiatorKeys builds the initiator's third message once S is known: HASH('req1', S),
// HASH('req2', SKEY) xor HASH('req3', S), ENCRYPT(VC, crypto_provide, len(PadC), PadC,
// len(IA)), ENCRYPT(IA); and the pattern the responder's answer starts with, ENCRYPT(VC).
func (h *Handshaker) initiatorKeys(out []byte) []byte {
	req1 := hash([]byte("req1"), h.s[:])
	req2 := Req2(h.ic.SKEY)
	req3 := hash([]byte("req3"), h.s[:])
	out = append(out, req1[:]...)
	for i := range req2 {
		out = append(out, req2[i]^req3[i])
	}
	h.enc = newCipher("keyA", h.s, h.ic.SKEY)
	h.dec = newCipher("keyB", h.s, h.ic.SKEY)
	msg := make([]byte, vcLen+4+2+2+len(h.ic.IA))
	binary.BigEndian.PutUint32(msg[vcLen:], uint32(h.ic.Provide))
	// len(PadC) = 0: PadC hides nothing once the stream is encrypted.
	binary.BigEndian.PutUint16(msg[vcLen+6:], uint16(len(h.ic.IA)))
	copy(msg[vcLen+8:], h.ic.IA)
	h.enc.XORKeyStream(msg, msg)
	out = append(out, msg...)
	h.pattern = make([]byte, vcLen)
	h.dec.XORKeyStream(h.pattern, h.pattern)
	return out
}

// finish records the agreed method and decrypts what already followed the handshake.
func (h *Handshaker) finish(m Method) {
	h.res.Method = m
	if m == RC4 {
		h.res.enc, h.res.dec = h.enc, h.dec
		h.dec.XORKeyStream(h.in, h.in)
	}
	h.res.Rest = append(h.res.IA[:len(h.res.IA):len(h.res.IA)], h.in...)
	h.in = nil
	h.st = sDone
}

// choose picks the method for a responder: RC4 when both sides accept it, else plaintext.
func choose(provided, allowed Method) Method {
	both := provided & allowed
	switch {
	case both&RC4 != 0:
		return RC4
	case both&Plaintext != 0:
		return Plaintext
	}
	return 0
}

// newCipher is RC4 keyed with HASH(name, S, SKEY), its first 1024 bytes of keystream dropped.
func newCipher(name string, s [KeyLen]byte, skey [20]byte) *rc4.Cipher {
	k := hash([]byte(name), s[:], skey[:])
	c, _ := rc4.NewCipher(k[:]) // a 20-byte key is always valid
	var drop [discard]byte
	c.XORKeyStream(drop[:], drop[:])
	return c
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
