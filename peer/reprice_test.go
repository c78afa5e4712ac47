package peer

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/speedbt/btt/wire"
)

// heard is one message a raw peer read, reduced to what the wire order is about.
type heard struct {
	typ   wire.MessageType
	speed wire.SpeedMsgType // when typ is Extended and the message is Speed's
	price uint64
	isSp  bool
}

func (h heard) String() string {
	if h.isSp {
		return fmt.Sprintf("speed(%d) at %d", h.speed, h.price)
	}
	return h.typ.String()
}

// hear reads one message from r and reduces it; Speed messages are those under id 9.
func hear(t *testing.T, r *wire.Reader) (heard, error) {
	t.Helper()
	m, err := r.ReadMessage()
	if err != nil {
		return heard{}, err
	}
	h := heard{typ: m.Type}
	if m.Type == wire.Extended && m.ExtID == 9 {
		sm, err := wire.ParseSpeedMessage(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		h.isSp, h.speed, h.price = true, sm.Type, sm.Price
	}
	return h, nil
}

// TestRepriceWireOrder: docs/INVARIANTS.md's "no block is served under ambiguous terms",
// on the wire. A raw fast Speed peer W wins the one auctioned slot at price 50 (the other
// bidder L's bid) and asks for 16 blocks of a rate-limited seeder; L raises its bid to 80
// and the next rechoke re-prices W. W must hear, in this order: Choke, a Reject for every
// request still queued, the bid-response at 80, Unchoke; no block between the Choke and the
// Unchoke, and every request answered once (a block before the Choke, else a Reject). The
// Choke comes after no more blocks than the pace let out plus the one the writer holds: it
// does not wait behind the queue. L,
// which never wins, hears no bid-response at all: its whole stream, read to the end after
// the seeder closes, is checked.
func TestRepriceWireOrder(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "reprice", []int{2 << 20}, 256<<10, 41)
	// One regular slot and the optimistic one; rechokes only when the test says (the timer is
	// an hour away), and an upload limit that keeps W's requests queued.
	seeder := newSpeedSession(t, "127.0.0.1", Settings{UploadSlots: 1, RechokeInterval: time.Hour, UploadRateLimit: 16 << 10}, speedConfig(0, noReserve))
	tor, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rechoke := func() { onLoop(tor.t, func() { tor.t.rechoke(time.Now()) }) }

	w, rw, wid := dialSpeedPeerFast(t, seeder, mi, true)
	l, rl, lid := dialSpeedPeerFast(t, seeder, mi, true)
	send(t, w, wire.Message{Type: wire.HaveNone}, wire.Message{Type: wire.Interested})
	sendSpeedMsg(t, w, wid, wire.SpeedMessage{Type: wire.SpeedBid, Price: 100})
	send(t, l, wire.Message{Type: wire.HaveNone}, wire.Message{Type: wire.Interested})
	sendSpeedMsg(t, l, lid, wire.SpeedMessage{Type: wire.SpeedBid, Price: 50})
	waitSpeed(t, tor, 5*time.Second, func(st SpeedStatus) bool {
		n := 0
		for _, p := range st.Peers {
			if p.Bid > 0 && p.Interests {
				n++
			}
		}
		return n == 2
	})
	rechoke()
	// W's terms: a bid-response at 50, then an unchoke.
	for quoted := false; ; {
		h, err := hear(t, rw)
		if err != nil {
			t.Fatalf("W before its first terms: %v", err)
		}
		if h.isSp && h.speed == wire.SpeedBidResponse {
			if h.price != 50 {
				t.Fatalf("W quoted %d, want 50 (L's bid)", h.price)
			}
			quoted = true
		}
		if h.typ == wire.Unchoke && quoted {
			break
		}
	}
	// Sixteen requests at a pace of one block a second after a 64 KiB burst (four blocks, and
	// a fifth on credit): the writer has at most one of them in hand at any time, and the rest
	// wait in the send queue, where the choke finds them.
	const asked = 16
	var reqs []wire.Message
	for i := range asked {
		b := uint32(i)
		reqs = append(reqs, wire.Message{Type: wire.Request, Index: b / 16, Begin: b % 16 * (16 << 10), Length: 16 << 10})
	}
	start := time.Now()
	send(t, w, reqs...)
	var got []heard
	for {
		h, err := hear(t, rw)
		if err != nil {
			t.Fatalf("W waiting for its first block: %v", err)
		}
		got = append(got, h)
		if h.typ == wire.Piece {
			break
		}
	}
	// A bid change after them: once the seeder shows it, it has queued every request before.
	sendSpeedMsg(t, w, wid, wire.SpeedMessage{Type: wire.SpeedBid, Price: 101})
	sendSpeedMsg(t, l, lid, wire.SpeedMessage{Type: wire.SpeedBid, Price: 80})
	waitSpeed(t, tor, 5*time.Second, func(st SpeedStatus) bool {
		n := 0
		for _, p := range st.Peers {
			if p.Bid == 80 || p.Bid == 101 {
				n++
			}
		}
		return n == 2
	})
	rechoke()
	// What the pace let out by now (the burst, then one a second), plus the block in the
	// writer's hands: the choke comes after these and no others.
	sendable := 5 + int(time.Since(start).Seconds()) + 1
	for {
		h, err := hear(t, rw)
		if err != nil {
			t.Fatalf("W after the re-price, heard %v: %v", got, err)
		}
		got = append(got, h)
		if h.typ == wire.Unchoke {
			break
		}
	}

	// Before the Choke: blocks only (served under 50). Then rejects, the new price, the unchoke.
	const (
		served = iota
		choked
		rejected
		quoted
		unchoked
	)
	stage, pieces, rejects := served, 0, 0
	for _, h := range got {
		switch {
		case h.typ == wire.Piece && stage == served:
			pieces++
		case h.typ == wire.Choke && stage == served:
			stage = choked
		case h.typ == wire.Reject && (stage == choked || stage == rejected):
			stage = rejected
			rejects++
		case h.isSp && h.speed == wire.SpeedBidResponse && stage == rejected:
			if h.price != 80 {
				t.Fatalf("re-priced at %d, want 80", h.price)
			}
			stage = quoted
		case h.typ == wire.Unchoke && stage == quoted:
			stage = unchoked
		case h.typ == wire.KeepAlive || h.typ == wire.Have:
		default:
			t.Fatalf("W heard %v out of order (stage %d): %v", h, stage, got)
		}
	}
	if stage != unchoked || pieces+rejects != asked || pieces > sendable {
		t.Fatalf("W heard %v: %d blocks (at most %d could go before the choke) and %d rejects for %d requests", got, pieces, sendable, rejects, asked)
	}

	// L's whole stream: no bid-response, ever.
	seeder.Close()
	l.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		h, err := hear(t, rl)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("L's stream did not end when the seeder closed: %v", err)
		}
		if err != nil {
			break // the seeder hung up: that was all
		}
		if h.isSp && h.speed == wire.SpeedBidResponse {
			t.Fatalf("L, a loser, heard a bid-response at %d", h.price)
		}
	}
}
