package utp

// Corking: a writer that writes one BitTorrent block at a time makes each Write send its
// one packet alone, so segmentation offload, which can carry three 16 KiB packets to a
// local peer in one sendmsg (and the peer's GRO socket take them in one read), never
// gets a run to send. While corked, Write leaves the tail of its run (at most one offload
// send, maxGSOBytes) for the next Write to join; SetCork(false) sends it.
//
// Only the writer's own sends wait: acks, timers and the reader's flushes send all they
// have as before, and a Write that must wait for room sends first. Corking applies only
// to connections with big datagrams (a local path, Config.LocalPacketSize), so that on
// real paths the packets leave when the pacer let them, as before.

// SetCork turns corking on or off; turning it off sends what corking held back. A writer
// corks while it has more to write right away and uncorks before it waits on anything
// else.
func (c *Conn) SetCork(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = on
	if !on {
		c.sendBatch()
	}
}

// holdRun reports whether Write may leave the current offload run unsent.
func (c *Conn) holdRun() bool {
	return c.corked && c.mss > c.s.cfg.PacketSize && !c.s.gsoOff.Load()
}
