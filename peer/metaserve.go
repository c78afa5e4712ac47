package peer

import (
	"bufio"
	"time"

	"github.com/speedbt/btt/wire"
)

// Bounds on serving our info dictionary (BEP 9) to one connection.
const (
	// maxQueuedMetadata is how many ut_metadata replies may wait at a connection's writer;
	// requests beyond it are rejected. Our fetcher keeps metadataWindow (8) requests
	// outstanding and libtorrent fewer, so honest peers never see the reject.
	maxQueuedMetadata = metadataWindow
	// metadataServeFactor is how many times, on average, each metadata piece is served over
	// one connection before further requests are rejected: a peer needs the dictionary
	// once, and the factor leaves room for retries after its own hash failures.
	metadataServeFactor = 4
)

// onMetadata serves our info dictionary (BEP 9). Private torrents are served too: the peer
// already knows the info-hash, and BEP 27 restricts peer sources, not metadata.
//
// A reply is queued as a reference and built by the writer, which waits on the session's
// upload limit for it like for a block: a queued reply holds no memory, at most
// maxQueuedMetadata wait per connection, and at most metadataServeFactor times the
// dictionary's pieces are served over one connection's life.
func (t *torrent) onMetadata(c *conn, payload []byte) error {
	mm, err := wire.ParseMetadataMessage(payload)
	if err != nil {
		return err
	}
	if mm.Type != wire.MetadataRequest {
		return nil // we never ask for metadata on a torrent we have
	}
	id := c.ls.ext.metadata
	if id == 0 {
		return nil // it did not tell us where to send the answer
	}
	total := len(t.info.Bytes())
	budget := metadataServeFactor*wire.MetadataPieces(total) + maxQueuedMetadata
	_, ok := wire.MetadataPieceSize(total, mm.Piece)
	if !ok || c.queuedMetadata.Load() >= maxQueuedMetadata || c.ls.metadataServed >= budget {
		reject := wire.MetadataMessage{Type: wire.MetadataReject, Piece: mm.Piece}
		c.send(wire.Message{Type: wire.Extended, ExtID: id, Payload: wire.AppendMetadataMessage(nil, reject)})
		return nil
	}
	c.ls.metadataServed++
	c.queuedMetadata.Add(1)
	c.sendOut(metadataReply(id, mm.Piece))
	return nil
}

// writeMetadata sends the ut_metadata data message for piece m.Index of our info
// dictionary, straight from the dictionary (no copy per reply), once the upload limit allows.
func (c *conn) writeMetadata(bw *bufio.Writer, m wire.Message) error {
	defer c.queuedMetadata.Add(-1)
	info := c.t.info.Bytes()
	i := int(m.Index)
	size, ok := wire.MetadataPieceSize(len(info), i)
	if !ok {
		return nil // checked when queued; the dictionary never changes
	}
	if sched := c.t.s.sched; sched != nil {
		// A reply takes a grant like a block: it counts against the upload limit and the
		// connection's share.
		if err := bw.Flush(); err != nil {
			return err
		}
		gen, err := sched.acquire(c.t.s.ctx, &c.flow, size, c.grant)
		c.grant = gen
		if err != nil {
			return err
		}
	}
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.t.s.settings.WriteStallTimeout)); err != nil {
		return err
	}
	var scratch [96]byte
	dict := wire.AppendMetadataMessage(scratch[6:6], wire.MetadataMessage{Type: wire.MetadataData, Piece: i, TotalSize: len(info)})
	hdr := wire.AppendExtendedHeader(scratch[:0], m.ExtID, len(dict)+size)
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	if _, err := bw.Write(dict); err != nil {
		return err
	}
	start := i * wire.MetadataPieceLen
	if _, err := bw.Write(info[start : start+size]); err != nil {
		return err
	}
	if c.t.s.sched != nil {
		return bw.Flush() // the grant covers the reply's time in the kernel, as for a block
	}
	return nil
}
