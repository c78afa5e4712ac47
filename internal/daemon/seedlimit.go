package daemon

import "time"

// Mode says where a torrent takes a seeding limit from; the values are Transmission's
// (tr_ratiolimit, tr_idlelimit), which its RPC exposes as seedRatioMode and seedIdleMode.
type Mode int

const (
	// ModeGlobal follows the session-wide limit.
	ModeGlobal Mode = 0
	// ModeSingle uses the torrent's own limit.
	ModeSingle Mode = 1
	// ModeUnlimited seeds without this limit, whatever the session says.
	ModeUnlimited Mode = 2
)

// SeedLimits are session-wide limits on seeding. Each applies only when its switch is on.
type SeedLimits struct {
	RatioLimited bool    `json:"ratio-limited"`
	Ratio        float64 `json:"ratio"`
	IdleLimited  bool    `json:"idle-limited"`
	IdleMinutes  int     `json:"idle-minutes"` // no payload up or down for this long
	TimeLimited  bool    `json:"time-limited"`
	TimeMinutes  int     `json:"time-minutes"` // seeding (complete and running) for this long
}

// TorrentLimits are one torrent's overrides of SeedLimits, and its own download limit
// (Transmission's downloadLimit/downloadLimited), which applies besides the session's.
type TorrentLimits struct {
	DownloadLimit   int64 `json:"download-limit,omitempty"` // bytes/s
	DownloadLimited bool  `json:"download-limited,omitempty"`

	RatioMode   Mode    `json:"ratio-mode"`
	Ratio       float64 `json:"ratio"`
	IdleMode    Mode    `json:"idle-mode"`
	IdleMinutes int     `json:"idle-minutes"`
	TimeMode    Mode    `json:"time-mode"`
	TimeMinutes int     `json:"time-minutes"`
}

// DownloadRate is the torrent's own download limit in bytes per second (0: none).
func (tl TorrentLimits) DownloadRate() int64 {
	if tl.DownloadLimited {
		return tl.DownloadLimit
	}
	return 0
}

// Resolve is what applies to a torrent with limits tl in a session with limits s.
func (s SeedLimits) Resolve(tl TorrentLimits) SeedLimits {
	out := s
	switch tl.RatioMode {
	case ModeSingle:
		out.RatioLimited, out.Ratio = true, tl.Ratio
	case ModeUnlimited:
		out.RatioLimited = false
	}
	switch tl.IdleMode {
	case ModeSingle:
		out.IdleLimited, out.IdleMinutes = true, tl.IdleMinutes
	case ModeUnlimited:
		out.IdleLimited = false
	}
	switch tl.TimeMode {
	case ModeSingle:
		out.TimeLimited, out.TimeMinutes = true, tl.TimeMinutes
	case ModeUnlimited:
		out.TimeLimited = false
	}
	return out
}

// SeedProgress is what the limits are checked against.
type SeedProgress struct {
	Complete   bool
	Size       int64 // bytes of the wanted content
	Uploaded   int64 // ever, across restarts
	Downloaded int64 // ever
	Seeding    time.Duration
	Idle       time.Duration // since the last payload byte in either direction
}

// Ratio is uploaded over downloaded, as Transmission reckons it: a torrent that was complete
// when added (downloaded nothing) is measured against its size, so seeding it still counts.
func (p SeedProgress) Ratio() float64 {
	base := p.Downloaded
	if base <= 0 {
		base = p.Size
	}
	if base <= 0 {
		return 0
	}
	return float64(p.Uploaded) / float64(base)
}

// StopReason names the limit that ended seeding ("" when none did).
type StopReason string

// The reasons.
const (
	StopRatio StopReason = "ratio"
	StopIdle  StopReason = "idle"
	StopTime  StopReason = "seeding time"
)

// Reached reports which limit, if any, says a torrent should stop seeding. Only a complete
// torrent is held to them: a download is never stopped for being idle.
func (l SeedLimits) Reached(p SeedProgress) StopReason {
	if !p.Complete {
		return ""
	}
	switch {
	case l.RatioLimited && p.Ratio() >= l.Ratio:
		return StopRatio
	case l.TimeLimited && p.Seeding >= time.Duration(l.TimeMinutes)*time.Minute:
		return StopTime
	case l.IdleLimited && p.Idle >= time.Duration(l.IdleMinutes)*time.Minute:
		return StopIdle
	}
	return ""
}
