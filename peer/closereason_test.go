package peer

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/speedbt/btt/wire"
)

// TestCloseReasons: the reason a connection closed reaches Stats.Closed, including breaches
// the loop detects (the reader then only sees its socket closed under it).
func TestCloseReasons(t *testing.T) {
	dir := t.TempDir()
	mi := writeTree(t, dir, "cr", []int{300_000}, 32<<10, 13)
	seeder := newTestSession(t, Settings{})
	st, err := seeder.AddTorrent(mi.Info, TorrentOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}

	// A peer that hangs up: network.
	nc, _ := dialFast(t, seeder.Addr().String(), mi.InfoHash())
	nc.Close()
	waitStats(t, st, func(s Stats) bool { return s.Closed["network"] == 1 })

	// HaveAll without the fast extension: a breach the loop finds, not the decoder.
	nc, err = net.DialTimeout("tcp", seeder.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteHandshake(nc, wire.Handshake{InfoHash: mi.InfoHash()}); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.ReadHandshake(nc); err != nil {
		t.Fatal(err)
	}
	send(t, nc, wire.Message{Type: wire.HaveAll})
	if _, err := io.Copy(io.Discard, nc); err != nil {
		t.Fatalf("seeder did not close the connection: %v", err)
	}
	waitStats(t, st, func(s Stats) bool { return s.Closed["protocol"] == 1 })

	// Another seed: both seeds.
	other := newTestSessionAt(t, "127.0.0.2", Settings{})
	ot, err := other.AddTorrent(mi.Info, TorrentOptions{DataDir: dir, Peers: []string{seeder.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	// Whichever seed sees it first closes with both-seeds; the other then sees a hang-up.
	waitStats(t, st, func(s Stats) bool { return s.Closed["both-seeds"]+ot.Stats().Closed["both-seeds"] >= 1 })
	if s := st.Stats(); s.Closed["network"] < 1 || s.Closed["protocol"] != 1 || s.Closed["banned"] != 0 {
		t.Errorf("closes %v", s.Closed)
	}
}

func TestCloseReasonClassify(t *testing.T) {
	for _, tc := range []struct {
		err    error
		banned bool
		want   CloseReason
	}{
		{io.EOF, false, CloseNetwork},
		{nil, false, CloseNetwork},
		{fmt.Errorf("read: %w", net.ErrClosed), false, CloseNetwork},
		{protocolErr("bad"), false, CloseProtocol},
		{fmt.Errorf("x: %w", &wire.MessageError{}), false, CloseProtocol},
		{fmt.Errorf("%w: corrupt data", errBanned), false, CloseBanned},
		{errors.New("peer: some other owner's error"), true, CloseBanned},
		{io.EOF, true, CloseBanned},
		{errBothSeeds, false, CloseBothSeeds},
		{errBothUploadOnly, false, CloseBothSeeds},
		{ErrSendQueueFull, false, CloseNotReading},
		{errClaimedBid, false, CloseClaim},
		{errTorrentClosed, false, CloseStopped},
		{errors.New("disk on fire"), false, CloseOther},
	} {
		if got := closeReason(tc.err, tc.banned); got != tc.want {
			t.Errorf("closeReason(%v, %v) = %v, want %v", tc.err, tc.banned, got, tc.want)
		}
	}
}
