package peer

// corker is a connection that can hold a writer's last packets back to join them to its
// next write (utp.Conn.SetCork: uTP to a local peer sends up to three 16 KiB blocks in one
// segmentation-offload sendmsg, where one block per Write went out one datagram each).
// The writer corks while it works through its queue and uncorks when the queue is empty
// or before it waits for a send grant, so corking never holds bytes while the writer
// waits: it only merges the sends of blocks written back to back.
type corker interface{ SetCork(on bool) }

// initCork sets up corking if nc supports it.
func (c *conn) initCork() {
	if ck, ok := c.nc.(corker); ok {
		c.ck = ck
		c.flow.beforeWait = func() { ck.SetCork(false) }
	}
}

func (c *conn) cork(on bool) {
	if c.ck != nil {
		c.ck.SetCork(on)
	}
}
