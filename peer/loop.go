package peer

import (
	"errors"
	"net"
	"time"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/tracker"
)

// do runs f on the loop.
func (t *torrent) do(f func()) {
	select {
	case t.cmds <- f:
	case <-t.stopping:
	}
}

// adopt hands a handshaken connection to the loop.
func (t *torrent) adopt(nc net.Conn, h wire.Handshake, outgoing bool) {
	select {
	case t.cmds <- func() { t.addConn(nc, h, outgoing) }:
	case <-t.stopping:
		nc.Close()
	}
}

func (t *torrent) run() {
	defer t.s.wg.Done()
	defer close(t.done)
	rechoke := time.NewTicker(t.s.settings.RechokeInterval)
	defer rechoke.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	t.connectMore()
	for {
		diskCh, job := t.diskSend()
		select {
		case diskCh <- job:
			t.diskHandedOver()
		case ev := <-t.events:
			t.handle(ev)
		case f := <-t.cmds:
			f()
		case <-tick.C:
			t.tick()
		case now := <-rechoke.C:
			t.rechoke(now)
		case <-t.stopping:
			t.shutdown()
			return
		case <-t.s.ctx.Done():
			t.stopOnce.Do(func() { close(t.stopping) })
		}
	}
}

func (t *torrent) shutdown() {
	for _, c := range t.conns {
		c.close(errTorrentClosed)
	}
	// Readers and writers see the closed socket (or the closed stopping channel) and end
	// without waiting on the loop; wait for them before the files close under them.
	t.connWG.Wait()
	t.stopDisk()
	if !t.announcing {
		t.stopTrackers()
	}
	for _, c := range t.conns {
		t.removeConn(c, errTorrentClosed)
	}
	t.closeErr = errors.Join(t.closeErr, t.closeStorage())
}

func (t *torrent) handle(ev event) {
	c := ev.c
	if ev.kind == evBlock {
		t.diskBusy--
	}
	if t.conns[c.key] != c {
		// A late event of a connection already removed. A block it sent was stored by a
		// disk worker after the connection closed: what that did to its piece still counts.
		switch ev.kind {
		case evBlock:
			t.onPieceResult(nil, ev)
		case evBlockData:
			t.s.blocks.Put(ev.buf)
		}
		return
	}
	switch ev.kind {
	case evClosed:
		t.removeConn(c, ev.err)
	case evBlockData:
		t.onBlockData(c, ev)
	case evBlock:
		t.onPieceResult(c, ev)
	case evMessage:
		if err := t.onMessage(c, ev.msg); err != nil {
			t.s.log.Info("dropping peer", "addr", c, "err", err)
			c.close(err)
		}
	}
}

func (t *torrent) stopWithError(err error) {
	t.closeErr = err
	t.stopOnce.Do(func() { close(t.stopping) })
}

// tick runs every second: rates, snubs, stats, dialing.
func (t *torrent) tick() {
	now := time.Now()
	t.retryBlockHashes()
	unchoked := 0
	for _, c := range t.conns {
		u, d := c.uploaded.Load(), c.downloaded.Load()
		c.ls.upRate.update(now, u)
		c.ls.downRate.update(now, d)
		if !c.ls.amChoking {
			unchoked++
		}
		if !c.ls.snubbed && t.depth.Snubbed(len(t.picker.Outstanding(c.key)), c.ls.lastBlock, now) {
			c.ls.snubbed = true
			t.releaseAll(c)
			for _, o := range t.conns {
				t.fillRequests(o)
			}
		}
	}
	t.stats.unchoked.Store(int32(unchoked))
	t.speedTick(now)
	t.paymentTick(now)
	t.dhtTick(now)
	t.pexTick(now)
	t.trackerTick(now, tracker.EventNone)
	t.connectMore()
	t.sleepIfIdle()
}

// addConn registers a new connection and starts its goroutines.
func (t *torrent) addConn(nc net.Conn, h wire.Handshake, outgoing bool) {
	addr := remoteAddr(nc)
	if len(t.conns) >= t.s.settings.MaxConnsPerTorrent || t.s.banned(addr) {
		nc.Close()
		return
	}
	for _, c := range t.conns {
		if c.peerID == h.PeerID {
			nc.Close() // a second connection to the same peer (both dialled at once)
			return
		}
	}
	t.nextKey++
	c := newConn(t, nc, h, outgoing)
	c.key = t.nextKey
	now := time.Now()
	c.ls.connectedAt = now
	c.ls.lastBlock = now
	c.ls.has = piece.New(t.layout.NumPieces)
	t.conns[c.key] = c
	t.picker.AddPeer(c.key)
	t.s.conns.Add(1)
	t.stats.peers.Store(int32(len(t.conns)))
	t.wake()
	t.connWG.Add(2)
	go func() { defer t.connWG.Done(); c.readLoop() }()
	go func() { defer t.connWG.Done(); c.writeLoop() }()

	if c.extended() {
		c.send(t.extHandshake(c))
	}
	t.sendHaves(c)
	t.grantAllowedFast(c)
	if t.s.dht != nil && c.reserved.SupportsDHT() {
		c.send(wire.Message{Type: wire.Port, Port: uint16(t.s.listenPort())})
	}
	t.s.log.Debug("peer connected", "addr", c, "outgoing", outgoing)
}

func (t *torrent) sendHaves(c *conn) {
	have := t.picker.Have()
	if t.superSeeding() {
		t.superOffer(c) // BEP 16: one piece at a time instead of everything
		return
	}
	switch {
	case c.fast() && have.All():
		c.send(wire.Message{Type: wire.HaveAll})
	case c.fast() && have.None():
		c.send(wire.Message{Type: wire.HaveNone})
	case !have.None():
		c.send(wire.Message{Type: wire.Bitfield, Payload: have.Bytes()})
	}
}

func (t *torrent) removeConn(c *conn, err error) {
	if _, ok := t.conns[c.key]; !ok {
		return
	}
	delete(t.conns, c.key)
	t.forgetHashAsks(c)
	t.picker.RemovePeer(c.key)
	if t.super != nil {
		t.superForget(c)
	}
	t.payeeDisconnect(c)
	t.payerDisconnect(c)
	t.s.conns.Add(-1)
	t.stats.peers.Store(int32(len(t.conns)))
	t.noteClose(c, err)
	if t.picker.Complete() && (c.ls.seed || c.ls.uploadOnly) {
		t.forgetSeed(c)
	}
	if !c.ls.amChoking {
		t.fillSlots() // its slot frees
	}
}
