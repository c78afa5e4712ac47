package bidext

// Settings are the user's Speed controls for the whole client.
type Settings struct {
	// Enabled: Speed is opt-in and off until the user turns it on. While off the client
	// sends no Speed message and ignores the ones it receives; it is a plain BitTorrent
	// client.
	Enabled bool
	// AutoBid: bid automatically from the balance (on by default once Speed is enabled).
	AutoBid bool
	// SpendingRate is the auto-bid spending rate in parts per million (1.0 by default).
	SpendingRate uint32
	// Sell: serve bidders and charge them (run the auction on torrents we upload).
	Sell bool
	// Reserve is the default reserve-price curve of the torrents we provide.
	Reserve ReserveConfig
}

// DefaultSettings: Speed off; once enabled, auto-bid at the full spending rate and sell
// with the default reserve curve.
func DefaultSettings() Settings {
	return Settings{AutoBid: true, SpendingRate: DefaultSpendingRate, Sell: true, Reserve: DefaultReserve()}
}

// TorrentSettings are per-torrent overrides; the zero value inherits everything.
type TorrentSettings struct {
	// Off turns Speed off for this torrent only.
	Off bool
	// SpendingRate, when not nil, replaces the client's spending rate.
	SpendingRate *uint32
	// Reserve, when not nil, replaces the client's reserve curve.
	Reserve *ReserveConfig
}

// Effective is what applies to one torrent.
type Effective struct {
	Bid          bool // send bids for this torrent
	SpendingRate uint32
	Auction      bool // auction our upload slots
	Reserve      ReserveConfig
}

// For resolves the settings of one torrent.
func (s Settings) For(t TorrentSettings) Effective {
	on := s.Enabled && !t.Off
	e := Effective{Bid: on && s.AutoBid, SpendingRate: min(s.SpendingRate, PPM), Auction: on && s.Sell, Reserve: s.Reserve}
	if t.SpendingRate != nil {
		e.SpendingRate = min(*t.SpendingRate, PPM)
	}
	if t.Reserve != nil {
		e.Reserve = *t.Reserve
	}
	return e
}
