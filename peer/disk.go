package peer

import (
	"time"

	"github.com/speedbt/btt/piece"
)

// diskJob is a received block on its way to storage.
type diskJob struct {
	c   *conn
	b   piece.Block
	buf []byte // from the session's block pool; the worker returns it
}

// diskQueueLen is the hand-off between the loop and the workers. Blocks beyond it wait in
// the loop's own queue (t.diskQ), which never blocks the loop; that queue is bounded by the
// requests outstanding, since only requested blocks are accepted.
const diskQueueLen = 64

// startDisk starts the torrent's disk workers, unless they run already. Writing and hashing
// a block takes about as long as reading it from the socket, so moving it off the reader
// lets the two overlap on different cores instead of alternating on one. They start with
// the first connection and stop when the torrent is idle again (idle.go).
func (t *torrent) startDisk() {
	if t.disk != nil {
		return
	}
	t.disk = make(chan diskJob, diskQueueLen)
	for range t.s.settings.DiskWorkers {
		t.diskWG.Add(1)
		go t.diskWorker(t.disk)
	}
}

func (t *torrent) diskWorker(jobs <-chan diskJob) {
	defer t.diskWG.Done()
	for j := range jobs {
		res, err := t.storeBlock(j.b, j.buf)
		t.s.blocks.Put(j.buf)
		t.post(event{c: j.c, kind: evBlock, blk: j.b, res: res, err: err})
	}
}

// diskHandedOver notes that the first queued block went to the workers.
func (t *torrent) diskHandedOver() {
	t.diskQ[0] = diskJob{}
	t.diskQ = t.diskQ[1:]
	t.diskBusy++
}

// diskIdle reports whether no block of ours waits for the workers or is with them.
func (t *torrent) diskIdle() bool { return len(t.diskQ) == 0 && t.diskBusy == 0 }

// stopDisk drops the blocks not yet handed over and lets the workers finish the rest.
func (t *torrent) stopDisk() {
	for _, j := range t.diskQ {
		t.s.blocks.Put(j.buf)
	}
	t.diskQ = nil
	if t.disk != nil {
		close(t.disk)
		t.diskWG.Wait()
		t.disk = nil
	}
}

// diskSend is the loop's send case: the disk channel while blocks wait, else nil (never ready).
func (t *torrent) diskSend() (chan<- diskJob, diskJob) {
	if len(t.diskQ) == 0 {
		return nil, diskJob{}
	}
	return t.disk, t.diskQ[0]
}

// onBlockData is a requested block's arrival: the picker accepts it first, and only then is
// it stored. A block the picker no longer wants (its piece failed and restarted, or another
// peer's copy came first) is dropped here, so it can never slip into a later attempt at the
// piece and be blamed on whoever sent that attempt's blocks.
func (t *torrent) onBlockData(c *conn, ev event) {
	b := ev.blk
	c.ls.lastBlock = time.Now()
	c.ls.snubbed = false
	cancels, _, err := t.picker.Received(c.key, b)
	if err != nil {
		// Not needed (a late duplicate), but billed if sent under paid terms: pay it.
		t.billReceived(c, b.Piece, b.Length)
		t.s.blocks.Put(ev.buf)
		c.wasted.Add(int64(b.Length))
		t.stats.wasted.Add(int64(b.Length))
		t.fillRequests(c)
		return
	}
	for _, k := range cancels {
		if o := t.conns[k]; o != nil {
			t.cancelAt(o, b)
		}
	}
	t.billReceived(c, b.Piece, b.Length)
	t.diskQ = append(t.diskQ, diskJob{c: c, b: b, buf: ev.buf})
	t.fillRequests(c)
}
