package peer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/speedbt/btt/peer/mse"
	"github.com/speedbt/btt/wire"
)

// This file puts Message Stream Encryption (package mse) in front of the BitTorrent handshake
// on both the dial and the accept path, for TCP and uTP alike, following Config.Encryption.

// errPlaintextRefused is why an incoming plaintext handshake is dropped under "require".
var errPlaintextRefused = errors.New("peer: plaintext handshake refused (encryption required)")

// errMSERefused is why an incoming MSE handshake is dropped with encryption off.
var errMSERefused = errors.New("peer: encrypted handshake refused (encryption off)")

// readIncomingHead tells a plaintext handshake from an MSE one by the first 20 bytes, runs
// the MSE responder when it is one, and reads the BitTorrent handshake head. It returns the
// connection the rest of the stream is read from (nc itself, or its decrypting wrapper). The
// caller has set nc's deadline, which bounds the whole attempt in time; mse bounds its bytes.
func (s *Session) readIncomingHead(nc net.Conn) (net.Conn, wire.Handshake, error) {
	var first [mse.DetectLen]byte
	if _, err := io.ReadFull(nc, first[:]); err != nil {
		return nil, wire.Handshake{}, err
	}
	if mse.IsPlaintextHandshake(first[:]) {
		if !s.encryption.AcceptsPlaintextHandshake() {
			return nil, wire.Handshake{}, errPlaintextRefused
		}
		h, err := wire.ReadHandshakeHead(io.MultiReader(bytes.NewReader(first[:]), nc))
		return nc, h, err
	}
	if !s.encryption.AcceptsMSE() {
		return nil, wire.Handshake{}, errMSERefused
	}
	r := mse.NewResponder(mse.ResponderConfig{
		Lookup: s.lookupReq2,
		Allow:  s.encryption.Methods(),
		Rand:   rand.Reader,
	})
	r.Recv(first[:])
	ec, res, err := mse.Handshake(nc, r)
	if err != nil {
		return nil, wire.Handshake{}, err
	}
	h, err := wire.ReadHandshakeHead(ec)
	if err != nil {
		return nil, wire.Handshake{}, err
	}
	if h.InfoHash != res.SKEY {
		return nil, wire.Handshake{}, fmt.Errorf("peer: MSE for %x but handshake for %x", res.SKEY, h.InfoHash)
	}
	return ec, h, nil
}

// lookupReq2 finds the torrent whose HASH('req2', info-hash) an MSE initiator sent. A session
// serves a handful of torrents, so hashing each is cheaper than keeping a second index.
func (s *Session) lookupReq2(req2 [20]byte) ([20]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ih := range s.torrents {
		if mse.Req2(ih) == req2 {
			return ih, true
		}
	}
	return [20]byte{}, false
}

// connect dials addr and, unless encryption is off, runs the MSE initiator for info-hash ih.
// Under "prefer" a peer that fails the MSE handshake is dialled again in plaintext (clients
// with encryption disabled close on our key), with what is left of ctx's time; MSE itself gets
// at most half of it, so a peer that silently waits still leaves time for the retry.
func (s *Session) connect(ctx context.Context, addr netip.AddrPort, ih [20]byte) (net.Conn, error) {
	nc, err := s.dialTransport(ctx, addr)
	if err != nil || s.encryption == mse.Off {
		return nc, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(s.settings.DialTimeout)
	}
	mseDeadline := deadline
	if s.encryption == mse.Prefer {
		mseDeadline = time.Now().Add(time.Until(deadline) / 2)
	}
	nc.SetDeadline(mseDeadline)
	ec, _, err := mse.Handshake(nc, mse.NewInitiator(mse.InitiatorConfig{
		SKEY:    ih,
		Provide: s.encryption.Methods(),
		Rand:    rand.Reader,
	}))
	if err == nil {
		nc.SetDeadline(deadline)
		return ec, nil
	}
	nc.Close()
	if s.encryption == mse.Require || ctx.Err() != nil {
		return nil, fmt.Errorf("peer: MSE handshake with %v: %w", addr, err)
	}
	s.log.Debug("MSE refused, retrying in plaintext", "addr", addr, "err", err)
	return s.dialTransport(ctx, addr)
}
