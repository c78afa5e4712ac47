package transmission

import (
	"encoding/json"
	"errors"
	"net"
	"strconv"

	"github.com/speedbt/btt/internal/daemon"
)

// rpcVersion is Transmission 3.00's RPC version, whose clients we serve.
const rpcVersion = 16

// kB is Transmission's speed unit on the RPC (speed-bytes 1000).
const kB = 1000

func (s *Server) sessionGet(args json.RawMessage) (map[string]any, error) {
	var a struct {
		Fields []string `json:"fields"`
	}
	if err := decode(args, &a); err != nil {
		return nil, err
	}
	st := s.d.Settings()
	port := 0
	if _, p, err := net.SplitHostPort(s.d.Addr()); err == nil {
		port, _ = strconv.Atoi(p)
	}
	all := map[string]any{
		"version":                      "3.00 (btt)",
		"rpc-version":                  rpcVersion,
		"rpc-version-minimum":          1,
		"session-id":                   s.sessionID,
		"config-dir":                   "",
		"download-dir":                 st.DownloadDir,
		"download-dir-free-space":      int64(-1),
		"incomplete-dir":               st.DownloadDir,
		"incomplete-dir-enabled":       false,
		"start-added-torrents":         true,
		"rename-partial-files":         false,
		"trash-original-torrent-files": false,
		"speed-limit-up":               st.SpeedLimitUp / kB,
		"speed-limit-up-enabled":       st.SpeedLimitUpEnabled,
		"speed-limit-down":             st.SpeedLimitDown / kB,
		"speed-limit-down-enabled":     st.SpeedLimitDownEnabled,
		"alt-speed-enabled":            st.AltSpeedEnabled,
		"alt-speed-up":                 st.AltSpeedUp / kB,
		"alt-speed-down":               st.AltSpeedDown / kB,
		"alt-speed-time-enabled":       false,
		"alt-speed-time-begin":         540,
		"alt-speed-time-end":           1020,
		"alt-speed-time-day":           127,
		"peer-limit-global":            st.PeerLimitGlobal,
		"peer-limit-per-torrent":       st.PeerLimitPerTorrent,
		"peer-port":                    port,
		"peer-port-random-on-start":    false,
		"port-forwarding-enabled":      false,
		"dht-enabled":                  false,
		"pex-enabled":                  true,
		"lpd-enabled":                  false,
		"utp-enabled":                  true,
		"encryption":                   "tolerated",
		"blocklist-enabled":            false,
		"blocklist-size":               0,
		"blocklist-url":                "",
		"cache-size-mb":                0,
		"download-queue-enabled":       false,
		"download-queue-size":          0,
		"seed-queue-enabled":           false,
		"seed-queue-size":              0,
		"queue-stalled-enabled":        false,
		"queue-stalled-minutes":        30,
		"seedRatioLimit":               st.Seed.Ratio,
		"seedRatioLimited":             st.Seed.RatioLimited,
		"idle-seeding-limit":           st.Seed.IdleMinutes,
		"idle-seeding-limit-enabled":   st.Seed.IdleLimited,
		"script-torrent-done-enabled":  false,
		"script-torrent-done-filename": "",
		"units": map[string]any{
			"speed-units":  []string{"kB/s", "MB/s", "GB/s", "TB/s"},
			"speed-bytes":  kB,
			"size-units":   []string{"kB", "MB", "GB", "TB"},
			"size-bytes":   1000,
			"memory-units": []string{"KiB", "MiB", "GiB", "TiB"},
			"memory-bytes": 1024,
		},
		"btt": map[string]any{
			"seed-time-limit":         st.Seed.TimeMinutes,
			"seed-time-limit-enabled": st.Seed.TimeLimited,
			"speed":                   st.Speed,
		},
	}
	if free, err := freeBytes(st.DownloadDir); err == nil {
		all["download-dir-free-space"] = free
	}
	if len(a.Fields) == 0 {
		return all, nil
	}
	out := make(map[string]any, len(a.Fields))
	for _, f := range a.Fields {
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	return out, nil
}

// sessionSetArgs are the session-set arguments we apply; Transmission's others (DHT,
// queues, blocklist, the alternative speeds' schedule) are accepted and ignored, as
// Transmission ignores keys it does not know.
type sessionSetArgs struct {
	DownloadDir           *string  `json:"download-dir"`
	SpeedLimitUp          *int64   `json:"speed-limit-up"`
	SpeedLimitUpEnabled   *bool    `json:"speed-limit-up-enabled"`
	SpeedLimitDown        *int64   `json:"speed-limit-down"`
	SpeedLimitDownEnabled *bool    `json:"speed-limit-down-enabled"`
	AltSpeedEnabled       *bool    `json:"alt-speed-enabled"`
	AltSpeedUp            *int64   `json:"alt-speed-up"`
	AltSpeedDown          *int64   `json:"alt-speed-down"`
	PeerLimitGlobal       *int     `json:"peer-limit-global"`
	PeerLimitPerTorrent   *int     `json:"peer-limit-per-torrent"`
	SeedRatioLimit        *float64 `json:"seedRatioLimit"`
	SeedRatioLimited      *bool    `json:"seedRatioLimited"`
	IdleSeedingLimit      *int     `json:"idle-seeding-limit"`
	IdleSeedingEnabled    *bool    `json:"idle-seeding-limit-enabled"`
	BTT                   *struct {
		SeedTimeLimit   *int                  `json:"seed-time-limit"`
		SeedTimeEnabled *bool                 `json:"seed-time-limit-enabled"`
		Speed           *daemon.SpeedSettings `json:"speed"`
	} `json:"btt"`
}

func (s *Server) sessionSet(args json.RawMessage) (map[string]any, error) {
	var a sessionSetArgs
	if err := decode(args, &a); err != nil {
		return nil, err
	}
	for _, v := range []*int64{a.SpeedLimitUp, a.SpeedLimitDown, a.AltSpeedUp, a.AltSpeedDown} {
		if v != nil && (*v < 0 || *v > 1<<40/kB) {
			return nil, errors.New("speed limit out of range")
		}
	}
	for _, v := range []*int{a.PeerLimitGlobal, a.PeerLimitPerTorrent} {
		if v != nil && (*v < 1 || *v > 65535) {
			return nil, errors.New("peer limit out of range (1..65535)")
		}
	}
	if a.BTT != nil && a.BTT.Speed != nil {
		if r := a.BTT.Speed.SpendingRate; r < 0 || r > 1 {
			return nil, errors.New("btt.speed.spending-rate is not within 0..1")
		}
	}
	return nil, s.d.SetSettings(func(st *daemon.Settings) {
		set := func(dst *int64, v *int64) {
			if v != nil {
				*dst = *v * kB
			}
		}
		set(&st.SpeedLimitUp, a.SpeedLimitUp)
		set(&st.SpeedLimitDown, a.SpeedLimitDown)
		set(&st.AltSpeedUp, a.AltSpeedUp)
		set(&st.AltSpeedDown, a.AltSpeedDown)
		setb := func(dst *bool, v *bool) {
			if v != nil {
				*dst = *v
			}
		}
		seti := func(dst *int, v *int) {
			if v != nil {
				*dst = *v
			}
		}
		setb(&st.SpeedLimitUpEnabled, a.SpeedLimitUpEnabled)
		setb(&st.SpeedLimitDownEnabled, a.SpeedLimitDownEnabled)
		setb(&st.AltSpeedEnabled, a.AltSpeedEnabled)
		seti(&st.PeerLimitGlobal, a.PeerLimitGlobal)
		seti(&st.PeerLimitPerTorrent, a.PeerLimitPerTorrent)
		if a.DownloadDir != nil {
			st.DownloadDir = *a.DownloadDir
		}
		if a.SeedRatioLimit != nil {
			st.Seed.Ratio = *a.SeedRatioLimit
		}
		setb(&st.Seed.RatioLimited, a.SeedRatioLimited)
		seti(&st.Seed.IdleMinutes, a.IdleSeedingLimit)
		setb(&st.Seed.IdleLimited, a.IdleSeedingEnabled)
		if b := a.BTT; b != nil {
			seti(&st.Seed.TimeMinutes, b.SeedTimeLimit)
			setb(&st.Seed.TimeLimited, b.SeedTimeEnabled)
			if b.Speed != nil {
				st.Speed = *b.Speed
			}
		}
	})
}
