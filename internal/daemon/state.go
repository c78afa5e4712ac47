package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Settings are the daemon's user settings, changed over RPC (session-set) and kept in the
// state directory. Speed limits are in bytes per second here; the RPC speaks KB/s.
type Settings struct {
	DownloadDir string `json:"download-dir"`

	SpeedLimitUp          int64 `json:"speed-limit-up"` // bytes/s
	SpeedLimitUpEnabled   bool  `json:"speed-limit-up-enabled"`
	SpeedLimitDown        int64 `json:"speed-limit-down"` // bytes/s
	SpeedLimitDownEnabled bool  `json:"speed-limit-down-enabled"`

	// Alternative speed limits ("turtle mode"): while on, they replace both limits above.
	AltSpeedEnabled bool  `json:"alt-speed-enabled"`
	AltSpeedUp      int64 `json:"alt-speed-up"`   // bytes/s
	AltSpeedDown    int64 `json:"alt-speed-down"` // bytes/s

	PeerLimitGlobal     int `json:"peer-limit-global"`
	PeerLimitPerTorrent int `json:"peer-limit-per-torrent"`

	Seed SeedLimits `json:"seed"`

	Speed SpeedSettings `json:"speed"`
}

// SpeedSettings are the user's Speed controls as `btt download` takes them on its command
// line: the daemon keeps them across restarts (the wallet by its path; the password is
// never stored, only the file it is read from) and the caller turns them into a
// peer.SpeedConfig.
type SpeedSettings struct {
	Enabled      bool    `json:"enabled"`
	NoBid        bool    `json:"no-bid"`
	NoSell       bool    `json:"no-sell"`
	Balance      string  `json:"balance"` // BTT, for auto-bid without a wallet
	SpendingRate float64 `json:"spending-rate"`
	ReserveGrace string  `json:"reserve-grace,omitempty"`
	ReserveStart string  `json:"reserve-start,omitempty"`
	ReserveCap   string  `json:"reserve-cap,omitempty"`
	Wallet       string  `json:"wallet,omitempty"`
	Ledger       string  `json:"ledger,omitempty"`
	PasswordFile string  `json:"password-file,omitempty"`
}

// defaultSettings are Transmission's where it has one (peer limits 200 and 50, limits off
// at 100 KB/s, ratio 2 when switched on), so a web client shows familiar values.
func defaultSettings(downloadDir string) Settings {
	return Settings{
		DownloadDir:         downloadDir,
		SpeedLimitUp:        100_000, // 100 kB/s, as Transmission (its RPC counts 1000 bytes a kB)
		SpeedLimitDown:      100_000,
		AltSpeedUp:          50_000, // Transmission's 50 kB/s
		AltSpeedDown:        50_000,
		PeerLimitGlobal:     200,
		PeerLimitPerTorrent: 50,
		Seed:                SeedLimits{Ratio: 2, IdleMinutes: 30, TimeMinutes: 60 * 24},
		Speed:               SpeedSettings{Balance: "0", SpendingRate: 1},
	}
}

// RateLimits returns the upload and download limits in force, in bytes per second (0: none):
// the alternative ones while they are on, else each limit whose switch is on.
func (s Settings) RateLimits() (up, down int64) {
	if s.AltSpeedEnabled {
		return s.AltSpeedUp, s.AltSpeedDown
	}
	if s.SpeedLimitUpEnabled {
		up = s.SpeedLimitUp
	}
	if s.SpeedLimitDownEnabled {
		down = s.SpeedLimitDown
	}
	return up, down
}

// TorrentSpeed is a torrent's own Speed setting.
type TorrentSpeed struct {
	Off          bool     `json:"off,omitempty"`
	SpendingRate *float64 `json:"spending-rate,omitempty"` // 0..1; nil: the session's
}

// torrentRecord is what is kept of a torrent across restarts.
type torrentRecord struct {
	ID          int    `json:"id"`
	Hash        string `json:"hash"` // v1 info-hash, hex
	Name        string `json:"name"`
	Magnet      string `json:"magnet,omitempty"` // the link it was added by (no .torrent kept)
	DownloadDir string `json:"download-dir"`
	Paused      bool   `json:"paused"`
	Finished    bool   `json:"finished,omitempty"` // a seeding limit stopped it
	Error       string `json:"error,omitempty"`

	Added    int64 `json:"added"` // Unix seconds
	Done     int64 `json:"done,omitempty"`
	Activity int64 `json:"activity,omitempty"`

	// Totals of earlier runs; the running torrent's own counters add to them.
	Uploaded       int64 `json:"uploaded"`
	Downloaded     int64 `json:"downloaded"`
	Corrupt        int64 `json:"corrupt"`
	SecondsSeeding int64 `json:"seconds-seeding"`
	Have           int64 `json:"have"` // verified bytes when last seen, for a stopped torrent's progress

	Limits TorrentLimits `json:"limits"`
	Speed  TorrentSpeed  `json:"speed"`
}

// Totals are Transmission's cumulative session statistics.
type Totals struct {
	Uploaded      int64 `json:"uploaded"`
	Downloaded    int64 `json:"downloaded"`
	FilesAdded    int64 `json:"files-added"`
	SessionCount  int64 `json:"session-count"`
	SecondsActive int64 `json:"seconds-active"`
}

// stateFile is state.json.
type stateFile struct {
	Settings Settings        `json:"settings"`
	NextID   int             `json:"next-id"`
	Torrents []torrentRecord `json:"torrents"`
	Totals   Totals          `json:"totals"`
}

// maxStateFile bounds what is read back: 1,000 torrents take about 600 KiB.
const maxStateFile = 64 << 20

func loadState(path string) (stateFile, bool, error) {
	var st stateFile
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if fi.Size() > maxStateFile {
		return st, false, fmt.Errorf("daemon: %s is %d bytes, more than %d", path, fi.Size(), maxStateFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("daemon: %s: %w", path, err)
	}
	return st, true, nil
}

// writeFileAtomic replaces path with data so that a crash leaves the old or the new file,
// never a torn one: write a temporary file, sync it, rename it over, sync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
