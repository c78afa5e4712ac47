package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/speedbt/btt/wire/tracker"
)

// connIDs makes BEP 15 connection ids without per-client state: an id is a
// keyed hash of the client's address and the current minute, and is accepted
// during that minute and the next one (BEP 15 lets clients use an id for one
// minute). The key never leaves the process, so ids cannot be forged from
// another address.
type connIDs struct {
	key [32]byte
}

func newConnIDs() connIDs {
	var c connIDs
	rand.Read(c.key[:])
	return c
}

const connIDEpoch = time.Minute

func (c *connIDs) make(ap netip.AddrPort, epoch int64) uint64 {
	var buf [32 + 8 + 16 + 2]byte
	copy(buf[:], c.key[:])
	binary.BigEndian.PutUint64(buf[32:], uint64(epoch))
	a := ap.Addr().As16()
	copy(buf[40:], a[:])
	binary.BigEndian.PutUint16(buf[56:], ap.Port())
	sum := sha256.Sum256(buf[:])
	return binary.BigEndian.Uint64(sum[:])
}

func (c *connIDs) current(ap netip.AddrPort, now time.Time) uint64 {
	return c.make(ap, now.UnixNano()/int64(connIDEpoch))
}

func (c *connIDs) valid(id uint64, ap netip.AddrPort, now time.Time) bool {
	e := now.UnixNano() / int64(connIDEpoch)
	return id == c.make(ap, e) || id == c.make(ap, e-1)
}

// UDPServer serves a Tracker over UDP (BEP 15 with BEP 41 URL data, in which
// Speed's bid, top and min_bid travel).
type UDPServer struct {
	Tracker *Tracker
	Now     func() time.Time // nil means time.Now
	ids     connIDs
}

// NewUDPServer returns a UDP front end for t.
func NewUDPServer(t *Tracker) *UDPServer {
	return &UDPServer{Tracker: t, ids: newConnIDs()}
}

// Serve reads requests from conn until ctx ends or conn fails, answering each
// from the same goroutine: one socket, one loop, no per-request allocation
// beyond the tracker's answer. Oversized and malformed packets are dropped,
// as are packets over the sender's rate budget (replying would let a spoofed
// flood aim our answers at a victim). It closes conn when ctx ends.
func (s *UDPServer) Serve(ctx context.Context, conn *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	in := make([]byte, tracker.MaxUDPPacket+1)
	out := make([]byte, 0, tracker.MaxUDPPacket*2)
	var peers []tracker.Peer
	for {
		n, from, err := conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		var reply []byte
		if reply, peers = s.handle(in[:n], from, out[:0], peers); len(reply) > 0 {
			conn.WriteToUDPAddrPort(reply, from)
		}
	}
}

func (s *UDPServer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Handle answers one datagram from `from`, appending the reply to dst; an
// empty result means the packet is dropped.
func (s *UDPServer) Handle(pkt []byte, from netip.AddrPort, dst []byte) []byte {
	reply, _ := s.handle(pkt, from, dst, nil)
	return reply
}

// handle is Handle with a reusable peer buffer, returned for the next call.
func (s *UDPServer) handle(pkt []byte, from netip.AddrPort, dst []byte, peers []tracker.Peer) ([]byte, []tracker.Peer) {
	if len(pkt) < 16 || len(pkt) > tracker.MaxUDPPacket {
		return nil, peers
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	now := s.now()
	if !s.Tracker.Allow(from.Addr(), now) {
		return nil, peers
	}
	connID := binary.BigEndian.Uint64(pkt)
	action := binary.BigEndian.Uint32(pkt[8:])
	tid := binary.BigEndian.Uint32(pkt[12:])
	if action == tracker.ActionConnect {
		if connID != 0x41727101980 {
			return nil, peers
		}
		return tracker.AppendUDPConnectReply(dst, tid, s.ids.current(from, now)), peers
	}
	if action != tracker.ActionAnnounce && action != tracker.ActionScrape {
		return nil, peers
	}
	if !s.ids.valid(connID, from, now) {
		// Until the connection id proves the source address, never answer
		// with more bytes than came in: no amplification for spoofed floods.
		const msg = "bad connection id"
		if len(pkt) < 8+len(msg) {
			return nil, peers
		}
		return tracker.AppendUDPError(dst, tid, msg), peers
	}
	if action == tracker.ActionScrape {
		_, _, hashes, err := tracker.ParseUDPScrape(pkt)
		if err != nil {
			return tracker.AppendUDPError(dst, tid, err.Error()), peers
		}
		return tracker.AppendUDPScrapeReply(dst, tid, s.Tracker.Scrape(hashes)), peers
	}
	a, err := tracker.ParseUDPAnnounce(pkt)
	if err != nil {
		return tracker.AppendUDPError(dst, tid, err.Error()), peers
	}
	ipv6 := !from.Addr().Is4()
	// A UDP reply must fit one datagram: 1,400 bytes of peers.
	per := 6
	if ipv6 {
		per = 18
	}
	if a.Request.Top > 0 {
		per += 8
	}
	fit := (1400 - 20) / per
	if a.Request.NumWant <= 0 {
		a.Request.NumWant = s.Tracker.cfg.DefaultNumWant
	}
	a.Request.NumWant = min(a.Request.NumWant, fit)
	resp, err := s.Tracker.announce(now, from.Addr(), a.Request, peers)
	if err != nil {
		return tracker.AppendUDPError(dst, tid, err.Error()), peers
	}
	return tracker.AppendUDPAnnounceReply(dst, tid, resp, ipv6, a.Request.Top > 0), resp.Peers
}
