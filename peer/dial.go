package peer

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// dialRetry is when an address that failed may be dialled again: exponential backoff from
// 2 s, so a peer still starting (Transmission verifies before it listens) is retried soon
// and a dead one costs little. After maxDialFailures it is dropped until re-added.
const maxDialFailures = 8

func dialBackoff(failures int) time.Duration {
	return min(2*time.Second<<min(failures-1, 8), 5*time.Minute)
}

type dialFailure struct {
	n     int
	retry time.Time
}

// connectMore dials known addresses while below the connection limit. A seed dials too:
// peers such as Transmission and aria2 never dial a seed that a user points at them.
func (t *torrent) connectMore() {
	connected := map[netip.AddrPort]bool{}
	for _, c := range t.conns {
		connected[netip.AddrPortFrom(c.addr.Addr().Unmap(), c.addr.Port())] = true
		if la, ok := t.pexListenAddr(c); ok {
			connected[la] = true // a peer that dialled us, where it listens
		}
	}
	now := time.Now()
	for ap := range t.known {
		if len(t.conns)+len(t.dialing) >= t.s.settings.MaxConnsPerTorrent {
			return
		}
		f := t.failures[ap]
		if connected[ap] || f.n >= maxDialFailures || now.Before(f.retry) || t.s.banned(ap.Addr().Unmap()) {
			continue
		}
		if _, ok := t.dialing[ap]; ok {
			continue
		}
		t.dialing[ap] = struct{}{}
		t.s.wg.Add(1)
		go t.dialOne(ap)
	}
}

func (t *torrent) dialOne(ap netip.AddrPort) {
	defer t.s.wg.Done()
	ctx, cancel := context.WithCancel(t.s.ctx)
	defer cancel()
	go func() {
		select {
		case <-t.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	nc, h, err := t.s.dial(ctx, t.infoHash, ap)
	t.do(func() {
		delete(t.dialing, ap)
		if err != nil {
			f := t.failures[ap]
			f.n++
			if errors.Is(err, errSelf) {
				f.n = maxDialFailures
			}
			f.retry = time.Now().Add(dialBackoff(f.n))
			t.failures[ap] = f
			t.s.log.Debug("dial failed", "addr", ap, "err", err, "failures", f.n)
			return
		}
		delete(t.failures, ap)
		t.addConn(nc, h, true)
	})
	select {
	case <-t.stopping:
		if nc != nil {
			nc.Close() // the loop is gone and will not adopt it
		}
	default:
	}
}
