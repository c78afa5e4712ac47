package daemon

import (
	"testing"
	"time"
)

func TestSeedLimitsReached(t *testing.T) {
	session := SeedLimits{RatioLimited: true, Ratio: 2, IdleLimited: true, IdleMinutes: 30}
	const mib = 1 << 20
	tests := []struct {
		name  string
		tl    TorrentLimits
		p     SeedProgress
		want  StopReason
		ratio float64
	}{
		{"incomplete never stops", TorrentLimits{}, SeedProgress{Size: mib, Uploaded: 9 * mib, Idle: time.Hour}, "", 9},
		{"below the global ratio", TorrentLimits{}, SeedProgress{Complete: true, Size: mib, Downloaded: mib, Uploaded: mib}, "", 1},
		{"at the global ratio", TorrentLimits{}, SeedProgress{Complete: true, Size: mib, Downloaded: mib, Uploaded: 2 * mib}, StopRatio, 2},
		{"added complete: ratio against size", TorrentLimits{}, SeedProgress{Complete: true, Size: mib, Uploaded: 2 * mib}, StopRatio, 2},
		{"own ratio overrides", TorrentLimits{RatioMode: ModeSingle, Ratio: 0.5}, SeedProgress{Complete: true, Size: mib, Downloaded: mib, Uploaded: mib / 2}, StopRatio, 0.5},
		{"unlimited ratio", TorrentLimits{RatioMode: ModeUnlimited}, SeedProgress{Complete: true, Size: mib, Downloaded: mib, Uploaded: 5 * mib}, "", 5},
		{"idle past the session limit", TorrentLimits{}, SeedProgress{Complete: true, Size: mib, Downloaded: mib, Idle: 31 * time.Minute}, StopIdle, 0},
		{"idle unlimited for this one", TorrentLimits{IdleMode: ModeUnlimited}, SeedProgress{Complete: true, Size: mib, Downloaded: mib, Idle: 31 * time.Minute}, "", 0},
		{"own seeding time", TorrentLimits{TimeMode: ModeSingle, TimeMinutes: 10}, SeedProgress{Complete: true, Size: mib, Downloaded: mib, Seeding: 10 * time.Minute}, StopTime, 0},
		{"seeding time off by default", TorrentLimits{}, SeedProgress{Complete: true, Size: mib, Downloaded: mib, Seeding: 1000 * time.Hour}, "", 0},
		{"empty torrent has ratio 0", TorrentLimits{}, SeedProgress{Complete: true}, "", 0},
	}
	for _, tt := range tests {
		l := session.Resolve(tt.tl)
		if got := l.Reached(tt.p); got != tt.want {
			t.Errorf("%s: Reached = %q, want %q", tt.name, got, tt.want)
		}
		if got := tt.p.Ratio(); got != tt.ratio {
			t.Errorf("%s: Ratio = %v, want %v", tt.name, got, tt.ratio)
		}
	}
}
