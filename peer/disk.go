package peer

import (
	"github.com/speedbt/btt/piece"
)

// diskJob is a received block on its way to storage.
type diskJob struct {
	c   *conn
	b   piece.Block
	buf []byte // from the session's block pool; the worker returns it
}

// diskQueueLen bounds the blocks waiting for a disk worker (4 MiB per torrent at most):
// a reader that gets ahead of the disk blocks, which throttles its peer through TCP.
const diskQueueLen = 256

// startDisk starts the torrent's disk workers. Writing and hashing a block takes about as
// long as reading it from the socket, so moving it off the reader lets the two overlap on
// different cores instead of alternating on one.
func (t *torrent) startDisk() {
	t.disk = make(chan diskJob, diskQueueLen)
	for range t.s.settings.DiskWorkers {
		t.diskWG.Add(1)
		go func() {
			defer t.diskWG.Done()
			for j := range t.disk {
				res, err := t.writeBlock(j.b, j.buf)
				t.s.blocks.Put(j.buf)
				t.post(event{c: j.c, kind: evBlock, blk: j.b, res: res, err: err})
			}
		}()
	}
}

// stopDisk lets the workers finish what is queued; call it once no reader can queue more.
func (t *torrent) stopDisk() {
	close(t.disk)
	t.diskWG.Wait()
}
