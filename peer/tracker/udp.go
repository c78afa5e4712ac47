package tracker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// udpConnIDMaxAge is how long a connection id may be reused (BEP 15).
const udpConnIDMaxAge = time.Minute

// udpConn is one exchange socket to one tracker.
type udpConn struct {
	c    *net.UDPConn
	ipv6 bool
	buf  [wiretracker.MaxUDPPacket]byte
}

// roundTrip sends the packet built by build (given a fresh transaction id) and
// waits for a reply accepted by parse, retransmitting on the BEP 15 schedule:
// wait 15 * 2^n seconds after try n (scaled by the client's UDPTimeout), at
// most UDPRetries+1 tries, always bounded by ctx.
func (c *Client) roundTrip(ctx context.Context, uc *udpConn, build func(tid uint32) []byte, parse func(b []byte, tid uint32) error) error {
	base, tries := c.udpSchedule()
	var tidb [4]byte
	rand.Read(tidb[:])
	tid := binary.BigEndian.Uint32(tidb[:])
	pkt := build(tid)
	stop := context.AfterFunc(ctx, func() { uc.c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for n := 0; n < tries; n++ {
		if _, err := uc.c.Write(pkt); err != nil {
			return err
		}
		deadline := time.Now().Add(base << n)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		uc.c.SetReadDeadline(deadline)
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			m, err := uc.c.Read(uc.buf[:])
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					break // retransmit
				}
				return err
			}
			err = parse(uc.buf[:m], tid)
			if errors.Is(err, wiretracker.ErrWrongTransaction) {
				continue
			}
			return err
		}
	}
	return fmt.Errorf("tracker: no UDP reply after %d tries: %w", tries, context.DeadlineExceeded)
}

func (c *Client) udpSchedule() (time.Duration, int) {
	base, retries := c.UDPTimeout, c.UDPRetries
	if base <= 0 {
		base = 15 * time.Second
	}
	if retries <= 0 {
		retries = 8
	}
	return base, retries + 1
}

func (cl *Client) dialUDP(ctx context.Context, host string) (*udpConn, error) {
	d, network := cl.dialer("udp")
	c, err := d.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	uc := c.(*net.UDPConn)
	ra := uc.RemoteAddr().(*net.UDPAddr)
	return &udpConn{c: uc, ipv6: ra.IP.To4() == nil}, nil
}

// connID returns a connection id for host: a cached one younger than a
// minute (BEP 15), or a fresh one from a connect exchange.
func (c *Client) connID(ctx context.Context, uc *udpConn, host string, fresh bool) (uint64, error) {
	if !fresh {
		c.mu.Lock()
		e, ok := c.connIDs[host]
		c.mu.Unlock()
		if ok && time.Since(e.at) < udpConnIDMaxAge {
			return e.id, nil
		}
	}
	var id uint64
	err := c.roundTrip(ctx, uc, func(tid uint32) []byte { return wiretracker.AppendUDPConnect(nil, tid) },
		func(b []byte, tid uint32) (err error) { id, err = wiretracker.ParseUDPConnectReply(b, tid); return err })
	if err != nil {
		return 0, fmt.Errorf("udp connect %s: %w", host, err)
	}
	c.mu.Lock()
	if c.connIDs == nil || len(c.connIDs) >= 256 {
		// A client talks to a handful of trackers; the cache only saves round trips.
		c.connIDs = make(map[string]connIDEntry)
	}
	c.connIDs[host] = connIDEntry{id: id, at: time.Now()}
	c.mu.Unlock()
	return id, nil
}

type connIDEntry struct {
	id uint64
	at time.Time
}

// udpExchange runs one request that needs a connection id, reconnecting once
// if the tracker refuses a cached id.
func (c *Client) udpExchange(ctx context.Context, host string, fn func(uc *udpConn, id uint64) error) error {
	uc, err := c.dialUDP(ctx, host)
	if err != nil {
		return err
	}
	defer uc.c.Close()
	for attempt := 0; ; attempt++ {
		id, err := c.connID(ctx, uc, host, attempt > 0)
		if err != nil {
			return err
		}
		err = fn(uc, id)
		var fe *wiretracker.FailureError
		if attempt == 0 && errors.As(err, &fe) {
			continue // maybe a stale connection id: one fresh try
		}
		return err
	}
}

func (c *Client) announceUDP(ctx context.Context, host, path string, req wiretracker.AnnounceRequest) (wiretracker.AnnounceResponse, error) {
	var resp wiretracker.AnnounceResponse
	err := c.udpExchange(ctx, host, func(uc *udpConn, id uint64) error {
		return c.roundTrip(ctx, uc,
			func(tid uint32) []byte { return wiretracker.AppendUDPAnnounce(nil, id, tid, path, req) },
			func(b []byte, tid uint32) (err error) {
				resp, err = wiretracker.ParseUDPAnnounceReply(b, tid, uc.ipv6, req.Top > 0)
				return err
			})
	})
	if err != nil {
		return resp, fmt.Errorf("udp announce %s: %w", host, err)
	}
	return resp, nil
}

func (c *Client) scrapeUDP(ctx context.Context, host string, hashes [][20]byte) (map[[20]byte]wiretracker.ScrapeResult, error) {
	out := make(map[[20]byte]wiretracker.ScrapeResult, len(hashes))
	for len(hashes) > 0 {
		chunk := hashes[:min(len(hashes), wiretracker.MaxUDPScrape)]
		hashes = hashes[len(chunk):]
		var res []wiretracker.ScrapeResult
		err := c.udpExchange(ctx, host, func(uc *udpConn, id uint64) error {
			return c.roundTrip(ctx, uc,
				func(tid uint32) []byte { return wiretracker.AppendUDPScrape(nil, id, tid, chunk) },
				func(b []byte, tid uint32) (err error) {
					res, err = wiretracker.ParseUDPScrapeReply(b, tid, len(chunk))
					return err
				})
		})
		if err != nil {
			return nil, fmt.Errorf("udp scrape %s: %w", host, err)
		}
		for i, ih := range chunk {
			out[ih] = res[i]
		}
	}
	return out, nil
}
