package peer

import (
	"time"

	"github.com/speedbt/btt/wire"
)

// Settings are a Session's tunables. The zero value of a field means its default; each
// default says why it is what it is.
type Settings struct {
	// MaxConnsPerTorrent caps connections per torrent. Mainstream clients use 50-200; more
	// peers than upload slots only cost memory and file descriptors.
	MaxConnsPerTorrent int
	// MaxConns caps connections across the session (file descriptors are the limit).
	MaxConns int
	// MaxHalfOpen caps dials in flight: a burst of dials to dead addresses must not
	// exhaust sockets (libtorrent uses a similar half-open limit).
	MaxHalfOpen int
	// DialTimeout bounds a TCP connect plus handshake.
	DialTimeout time.Duration
	// HandshakeTimeout bounds how long an accepted connection may take to send its handshake.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection on which nothing, not even a keep-alive, arrived for this
	// long. BEP 3 suggests keep-alives every two minutes, so three is the common cutoff.
	IdleTimeout time.Duration
	// KeepAliveInterval is how often an idle writer sends a keep-alive (below IdleTimeout of
	// every mainstream client).
	KeepAliveInterval time.Duration
	// MaxMessageLen bounds one incoming message: a 16 KiB block plus headers, bitfields of
	// very large torrents, extension payloads. See wire.DefaultMaxMessageLen.
	MaxMessageLen int
	// ReadBufferSize is each connection's read-ahead: small messages are decoded in it, and
	// a block's head is copied out of it while its tail is read from the socket straight
	// into the block's buffer (wire.Reader.ReadPayload). 16 KiB holds a window of requests
	// and haves; a bigger one only makes more of each block pass through it. 1 GiB over
	// loopback TCP, three rounds: 64 KiB 518 MB/s and 2.91 downloader CPU-s/GiB, 16 KiB
	// 528 MB/s and 2.78, and 48 KiB less per connection.
	ReadBufferSize int
	// RechokeInterval is the tit-for-tat period; BEP 3 clients use 10 s.
	RechokeInterval time.Duration
	// UploadSlots is the number of regular unchoke slots per torrent (plus one optimistic).
	UploadSlots int
	// OptimisticInterval is how long the optimistic slot stays with one peer before the
	// rechoke rotates it: three rechoke intervals unless set (mainline's 30 s).
	OptimisticInterval time.Duration
	// MaxPeerRequests bounds the requests a peer may have queued at us (our reqq); beyond it,
	// requests are rejected (fast peers) or dropped, so a peer cannot make us queue unbounded work.
	MaxPeerRequests int
	// AllowedFast is the size of the BEP 6 allowed-fast set granted to each fast peer: pieces
	// it may fetch while we choke it, so a newcomer has something to trade with. 10, as
	// libtorrent grants (BEP 6's example); 10 pieces of a big torrent is little given away.
	// Negative grants none; Speed torrents grant none (allowedfast.go says why).
	AllowedFast int
	// MaxSendQueueBytes bounds the memory a connection holds for its peer to read: queued
	// messages and their payloads (blocks and metadata replies are read at write time and
	// count only their slot). Past half of it we stop reading from the peer until the writer
	// drains; past it the peer is disconnected (ErrSendQueueFull). An honest peer's queue holds
	// a bitfield (128 KiB for a million pieces) and a burst of haves, far below the 1 MiB
	// default; 1 MiB times MaxConns (400) bounds the session's send queues at 400 MiB.
	MaxSendQueueBytes int
	// MaxSendQueueMsgs bounds the messages a connection holds likewise. It must leave room
	// for MaxPeerRequests queued uploads (500) plus control messages: 16384 is a burst of
	// haves for a 16384-piece torrent while the writer is busy.
	MaxSendQueueMsgs int
	// WriteStallTimeout disconnects a peer that takes nothing we send for this long while
	// we have something for it (a block, a reply): it is gone, or it never reads and holds
	// an upload slot. 30 s is a 16 KiB block at 550 B/s, slower than any link worth a slot.
	WriteStallTimeout time.Duration
	// SnubTimeout marks a peer snubbed when requests are outstanding and no block arrived for
	// this long; its requests go back to the pool for others.
	SnubTimeout time.Duration
	// HashFailBan is the number of pieces an address may be shown to have sent corrupt blocks
	// for (smart ban, smartban.go) before it is banned; more than 1 tolerates a rare honest
	// corruption.
	HashFailBan int
	// BanDuration is how long a banned address is refused.
	BanDuration time.Duration
	// DiskWorkers write and hash received blocks for each torrent, so that reading the next
	// block from the socket overlaps with storing the last one. Two use both cores of a small
	// machine; blocks of one piece may then be stored out of order, which storage absorbs.
	DiskWorkers int
	// RecheckWorkers is how many goroutines hash existing data on start.
	RecheckWorkers int
	// PaymentTimeout is how long a Speed requester has to pay for billable data after we sent
	// it before it is choked and struck (docs/speed-payments.md: 30 s, a piece's transfer and
	// verification plus a round trip with room to spare).
	PaymentTimeout time.Duration
	// SettleRetry is the first wait before a failed settlement is tried again; each retry
	// doubles it up to SettleRetryMax, until the ledger confirms or the channel expires. 2 s
	// rides out a ledger restart; a minute between tries costs the ledger nothing.
	SettleRetry    time.Duration
	SettleRetryMax time.Duration
	// UploadRateLimit caps the session's upload in payload bytes per second; 0 means none.
	UploadRateLimit int64
	// DownloadRateLimit caps the session's download in payload bytes per second; 0 means
	// none (downlimit.go). Session.SetDownloadRateLimit changes it at run time.
	DownloadRateLimit int64
	// PaidSendWeight is the send scheduler's weight of a connection unchoked in a Speed
	// auction slot; every other unchoked connection (tit-for-tat, optimistic) weighs 1. While
	// the upload is the bottleneck, a payer gets PaidSendWeight times the rate of a free
	// slot. 4 is where, in the market simulator (internal/market, docs/speed-market.md),
	// bidding one's value beats not bidding in nearly every trial with the optimistic slot
	// on, while a free slot still gets a fifth to a tenth of the upload, enough for a new
	// peer to obtain its first pieces and start trading.
	PaidSendWeight int
	// SendHold is how long one block's write may hold the send scheduler's turn before the
	// next block may go anyway (a peer that stopped reading must not stall the others).
	// 50 ms is a 16 KiB block at 2.6 Mbit/s: a slower peer loses its exclusive turn.
	SendHold time.Duration
	// ReciprocationSlots is how many regular slots tit-for-tat keeps, while we download, for
	// the peers we download fastest from, before the auction fills the rest: a paid market
	// must not stop a leecher from trading. 0 means the default, 1; negative means none. As a
	// seed it does not apply.
	ReciprocationSlots int
	// ClientVersion is sent as "v" in the BEP 10 handshake.
	ClientVersion string
	// PEXInterval is how often each peer gets a BEP 11 ut_pex message; BEP 11 says at most
	// once a minute. Tests shorten it.
	PEXInterval time.Duration
}

func (s Settings) withDefaults() Settings {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defd := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&s.MaxConnsPerTorrent, 80)
	def(&s.MaxConns, 400)
	def(&s.MaxHalfOpen, 32)
	defd(&s.DialTimeout, 10*time.Second)
	defd(&s.HandshakeTimeout, 10*time.Second)
	defd(&s.IdleTimeout, 3*time.Minute)
	defd(&s.KeepAliveInterval, 90*time.Second)
	def(&s.MaxMessageLen, wire.DefaultMaxMessageLen)
	def(&s.ReadBufferSize, 16<<10)
	defd(&s.RechokeInterval, 10*time.Second)
	def(&s.UploadSlots, 4)
	defd(&s.OptimisticInterval, 3*s.RechokeInterval)
	def(&s.MaxPeerRequests, 500)
	if s.AllowedFast == 0 {
		s.AllowedFast = 10
	}
	def(&s.MaxSendQueueBytes, 1<<20)
	def(&s.MaxSendQueueMsgs, 16384)
	defd(&s.SnubTimeout, 60*time.Second)
	defd(&s.WriteStallTimeout, 30*time.Second)
	def(&s.HashFailBan, 2)
	defd(&s.BanDuration, time.Hour)
	defd(&s.PEXInterval, time.Minute)
	def(&s.RecheckWorkers, 2)
	def(&s.DiskWorkers, 2)
	defd(&s.PaymentTimeout, 30*time.Second)
	defd(&s.SettleRetry, 2*time.Second)
	defd(&s.SettleRetryMax, time.Minute)
	def(&s.PaidSendWeight, 4)
	defd(&s.SendHold, 50*time.Millisecond)
	switch {
	case s.ReciprocationSlots == 0:
		s.ReciprocationSlots = 1
	case s.ReciprocationSlots < 0:
		s.ReciprocationSlots = 0
	}
	if s.ClientVersion == "" {
		s.ClientVersion = "btt/0.1"
	}
	return s
}
