package daemon

import (
	"strconv"

	"github.com/speedbt/btt/internal/metrics"
)

// Metrics gathers the daemon's figures for a scrape: per torrent (labelled by info-hash and
// name) and for the session. Counters are this daemon run's unless named _ever.
func (d *Daemon) Metrics() []*metrics.Family {
	views := d.Torrents(nil, false)
	ss := d.Stats()
	fam := func(name, help string, kind metrics.Kind) *metrics.Family {
		return &metrics.Family{Name: "btt_" + name, Help: help, Kind: kind}
	}
	type perTorrent struct {
		f   *metrics.Family
		val func(v *View) float64
	}
	c, g := metrics.Counter, metrics.Gauge
	pt := []perTorrent{
		{fam("torrent_uploaded_bytes_total", "Payload bytes sent, across restarts.", c), func(v *View) float64 { return float64(v.UploadedEver) }},
		{fam("torrent_downloaded_bytes_total", "Payload bytes received, across restarts.", c), func(v *View) float64 { return float64(v.DownloadedEver) }},
		{fam("torrent_wasted_bytes_total", "Payload bytes received unasked or in pieces that failed the hash, across restarts.", c), func(v *View) float64 { return float64(v.CorruptEver) }},
		{fam("torrent_upload_rate_bytes", "Upload rate, bytes per second (two-second average).", g), func(v *View) float64 { return float64(v.RateUp) }},
		{fam("torrent_download_rate_bytes", "Download rate, bytes per second (two-second average).", g), func(v *View) float64 { return float64(v.RateDown) }},
		{fam("torrent_peers", "Connected peers.", g), func(v *View) float64 { return float64(v.Peers.Connected) }},
		{fam("torrent_unchoked_peers", "Peers we upload to.", g), func(v *View) float64 { return float64(v.Stats.Unchoked) }},
		{fam("torrent_pieces", "Pieces of the torrent.", g), func(v *View) float64 { return float64(v.PieceCount) }},
		{fam("torrent_pieces_verified", "Pieces verified on disk.", g), func(v *View) float64 { return float64(v.Stats.PiecesDone) }},
		{fam("torrent_size_bytes", "Bytes of the torrent's content.", g), func(v *View) float64 { return float64(v.TotalSize) }},
		{fam("torrent_verified_bytes", "Bytes verified on disk.", g), func(v *View) float64 { return float64(v.HaveValid) }},
		{fam("torrent_status", "Transmission status code: 0 stopped, 1-2 checking, 4 downloading, 6 seeding.", g), func(v *View) float64 { return float64(v.Status) }},
		{fam("torrent_seeding_seconds_total", "Seconds spent seeding, across restarts.", c), func(v *View) float64 { return float64(v.SecondsSeeding) }},
		{fam("torrent_hash_failures_total", "Pieces that failed the hash check.", c), func(v *View) float64 { return float64(v.Stats.HashFailures) }},
		{fam("torrent_bans_total", "Peers banned for bad data.", c), func(v *View) float64 { return float64(v.Stats.Banned) }},
		{fam("torrent_tracker_announces_total", "Announces a tracker answered.", c), func(v *View) float64 { return float64(v.Stats.TrackerAnnounces) }},
		{fam("torrent_choke_rounds_total", "Choke rounds (rechokes) run.", c), func(v *View) float64 { return float64(v.Stats.ChokeRounds) }},
		{fam("torrent_choke_round_unchoked", "Peers the last choke round unchoked.", g), func(v *View) float64 { return float64(v.Stats.LastRoundUnchoked) }},
		{fam("torrent_choke_unchoked_total", "Peers unchoked, summed over choke rounds (over rounds_total: the mean per round).", c), func(v *View) float64 { return float64(v.Stats.ChokeRoundUnchokes) }},
		{fam("torrent_download_limit_bytes", "The torrent's own download limit, bytes per second (0: none; the session's applies too).", g), func(v *View) float64 { return float64(v.Limits.DownloadRate()) }},
		{fam("speed_bids_received_total", "Speed bid messages from requesters.", c), func(v *View) float64 { return float64(v.Stats.BidsReceived) }},
		{fam("speed_auction_unchokes_total", "Unchokes of Speed auction winners.", c), func(v *View) float64 { return float64(v.Stats.AuctionUnchokes) }},
		{fam("speed_source_proofs_total", "Valid Speed source proofs received.", c), func(v *View) float64 { return float64(v.Stats.SourceProofs) }},
		{fam("speed_bad_proofs_total", "Speed source proofs refused.", c), func(v *View) float64 { return float64(v.Stats.BadProofs) }},
		{fam("speed_spent_units_total", "Paid to providers (vouchers they acknowledged), base units.", c), func(v *View) float64 { return float64(v.Stats.Spent) }},
		{fam("speed_promised_units_total", "Promised in vouchers sent, base units.", c), func(v *View) float64 { return float64(v.Stats.Promised) }},
		{fam("speed_vouchers_sent_total", "Vouchers sent to providers.", c), func(v *View) float64 { return float64(v.Stats.VouchersSent) }},
		{fam("speed_payment_acks_total", "Voucher acknowledgements from providers.", c), func(v *View) float64 { return float64(v.Stats.PaymentAcks) }},
		{fam("speed_channels_opened_total", "Payment channels opened.", c), func(v *View) float64 { return float64(v.Stats.ChannelsOpened) }},
		{fam("speed_earned_units_total", "Accepted from requesters' vouchers, base units.", c), func(v *View) float64 { return float64(v.Stats.Earned) }},
		{fam("speed_vouchers_accepted_total", "Vouchers accepted from requesters.", c), func(v *View) float64 { return float64(v.Stats.VouchersAccepted) }},
		{fam("speed_settled_units_total", "Paid to us by the ledger on channel closes, base units.", c), func(v *View) float64 { return float64(v.Stats.Settled) }},
		{fam("speed_bid_units", "Our current bid, base units per GiB (0: none).", g), func(v *View) float64 { return float64(v.SpeedStatus.Bid) }},
		{fam("speed_reserve_units", "Our reserve price, base units per GiB.", g), func(v *View) float64 { return float64(v.SpeedStatus.Reserve) }},
		{fam("speed_paying_peers", "Peers we unchoke under an auction price.", g), func(v *View) float64 { return float64(paying(v)) }},
		{fam("speed_highest_price_units", "Highest auction price our paying peers pay, base units per GiB.", g), func(v *View) float64 { return float64(highestPrice(v)) }},
		{fam("speed_payment_failures_total", "Requesters choked for not paying.", c), func(v *View) float64 { return float64(v.Stats.PaymentFailures) }},
	}
	for i := range views {
		v := &views[i]
		labels := []metrics.Label{{Name: "torrent", Value: v.Hash}, {Name: "name", Value: v.Name}}
		for _, p := range pt {
			p.f.Add(p.val(v), labels...)
		}
	}
	out := []*metrics.Family{}
	add := func(name, help string, kind metrics.Kind, v float64) {
		f := fam(name, help, kind)
		f.Add(v)
		out = append(out, f)
	}
	add("torrents", "Torrents in the daemon.", g, float64(ss.Torrents))
	status := fam("torrents_by_status", "Torrents by Transmission status code.", g)
	counts := map[Status]int{}
	for _, v := range views {
		counts[v.Status]++
	}
	for _, s := range []Status{StatusStopped, StatusCheckWait, StatusCheck, StatusDownloadWait, StatusDownload, StatusSeedWait, StatusSeed} {
		status.Add(float64(counts[s]), metrics.Label{Name: "status", Value: strconv.Itoa(int(s))})
	}
	out = append(out, status)
	add("session_uploaded_bytes_total", "Payload bytes sent by all torrents in this daemon run.", c, float64(ss.CurrentUp))
	add("session_downloaded_bytes_total", "Payload bytes received by all torrents in this daemon run.", c, float64(ss.CurrentDown))
	add("session_upload_rate_bytes", "Upload rate of all torrents, bytes per second.", g, float64(ss.RateUp))
	add("session_download_rate_bytes", "Download rate of all torrents, bytes per second.", g, float64(ss.RateDown))
	add("session_uptime_seconds", "Seconds since the daemon started.", g, float64(ss.SecondsActive))
	peers := 0
	for i := range views {
		peers += views[i].Peers.Connected
	}
	add("session_peers", "Connected peers of all torrents.", g, float64(peers))
	up, down := d.Settings().RateLimits()
	add("session_upload_limit_bytes", "The upload limit in force, bytes per second (0: none).", g, float64(up))
	add("session_download_limit_bytes", "The download limit in force, bytes per second (0: none).", g, float64(down))
	out = append(out, d.ledger.families()...)
	for _, p := range pt {
		out = append(out, p.f)
	}
	return out
}

func paying(v *View) int {
	n := 0
	for _, p := range v.SpeedStatus.Peers {
		if p.Paying {
			n++
		}
	}
	return n
}

func highestPrice(v *View) uint64 {
	var hi uint64
	for _, p := range v.SpeedStatus.Peers {
		if p.Paying {
			hi = max(hi, p.Price)
		}
	}
	return hi
}
