package peer

// An idle torrent, one with no connection, is most of what a seeder with a large catalogue
// holds: btt-seeder serving 1,000 torrents has a few peers on a few of them at a time. So
// what only connections use is made when the first one arrives and released when the
// torrent is idle again: the event channel the connections' readers and the disk workers
// post to (eventQueueLen events, about 30 KiB), the disk workers' queue and their
// goroutines. An idle torrent keeps its loop goroutine and its state (picker, storage,
// tracker schedule), about 6 KiB of heap and one goroutine stack.

// eventQueueLen is the event channel's capacity: readers post blocks without waiting on
// the loop while it is busy with another connection's.
const eventQueueLen = 256

// wake makes what a connection needs, if the torrent was idle. It runs on the loop, before
// the connection's goroutines start.
func (t *torrent) wake() {
	if t.events == nil {
		t.events = make(chan event, eventQueueLen)
	}
	t.startDisk()
}

// sleepIfIdle releases what wake made once no connection is left and no block of ours is
// queued for or held by a disk worker. Nothing can post to the event channel then: every
// reader has posted its last event (evClosed, which removed its connection) and every
// block handed to the workers has come back, and those posts happened before the loop
// received them. The workers, waiting for jobs, end when their channel closes. It runs on
// the loop's tick, so a torrent whose peers come and go keeps them between two ticks.
func (t *torrent) sleepIfIdle() {
	if t.events == nil || len(t.conns) > 0 || !t.diskIdle() {
		return
	}
	t.stopDisk()
	t.events = nil
}
