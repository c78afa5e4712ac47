package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/thirdparty"
)

func open(t testing.TB, dir string) *Daemon {
	t.Helper()
	d, err := Open(Config{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitStatus polls until the torrent's status is want.
func waitStatus(t testing.TB, d *Daemon, id int, want Status) View {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		vs := d.Torrents([]int{id}, false)
		if len(vs) == 1 && vs[0].Status == want {
			return vs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("torrent %d never reached status %d: %+v", id, want, vs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStateKept: torrents (running and stopped), their folders and limits, and the settings
// survive Close and Open.
func TestStateKept(t *testing.T) {
	state, data := t.TempDir(), t.TempDir()
	d := open(t, state)
	a, err := d.Add(AddRequest{Metainfo: thirdparty.CreateTorrent(t, data, "a.bin", 40<<10, 16<<10), DownloadDir: data})
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Add(AddRequest{Metainfo: thirdparty.CreateTorrent(t, data, "b.bin", 20<<10, 16<<10), DownloadDir: data, Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, d, a.ID, StatusSeed)
	d.SetTorrents([]int{b.ID}, func(l *TorrentLimits, s *TorrentSpeed) { l.RatioMode, l.Ratio = ModeSingle, 4 })
	if err := d.SetSettings(func(s *Settings) { s.SpeedLimitUp, s.SpeedLimitUpEnabled, s.Seed.IdleLimited = 12345, true, true }); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, "resume", a.Hash+".resume")); err != nil {
		t.Errorf("no resume data after Close: %v", err)
	}

	d = open(t, state)
	defer d.Close()
	va := waitStatus(t, d, a.ID, StatusSeed)
	if va.Name != "a.bin" || va.DownloadDir != data || va.PercentDone != 1 {
		t.Errorf("a after reopen: %+v", va)
	}
	vb := d.Torrents([]int{b.ID}, false)[0]
	if vb.Status != StatusStopped || vb.Limits.RatioMode != ModeSingle || vb.Limits.Ratio != 4 {
		t.Errorf("b after reopen: status %d, limits %+v", vb.Status, vb.Limits)
	}
	if st := d.Settings(); st.SpeedLimitUp != 12345 || !st.SpeedLimitUpEnabled || !st.Seed.IdleLimited {
		t.Errorf("settings after reopen: %+v", st)
	}
	if s := d.Stats(); s.Cumulative.SessionCount != 2 || s.Cumulative.FilesAdded != 2 {
		t.Errorf("totals after reopen: %+v", s.Cumulative)
	}
	if added, err := d.Add(AddRequest{Metainfo: thirdparty.CreateTorrent(t, data, "a.bin", 40<<10, 16<<10)}); err != nil || !added.Duplicate || added.ID != a.ID {
		t.Errorf("adding a again: %+v, %v", added, err)
	}
	if a2, err := d.Add(AddRequest{Metainfo: thirdparty.CreateTorrent(t, data, "c.bin", 10<<10, 16<<10), DownloadDir: data}); err != nil || a2.ID != 3 {
		t.Errorf("the next id after reopen: %+v, %v", a2, err)
	}
}

// TestSeedingLimits: a complete torrent stops (and is marked finished) once it meets the
// session's ratio limit, or its own idle limit; one set unlimited keeps seeding.
func TestSeedingLimits(t *testing.T) {
	data := t.TempDir()
	d := open(t, t.TempDir())
	defer d.Close()
	// A ratio limit of 0 is met at once by a complete torrent: its enforcement is what is
	// tested, not the arithmetic (TestSeedLimitsReached).
	if err := d.SetSettings(func(s *Settings) { s.Seed.RatioLimited, s.Seed.Ratio = true, 0 }); err != nil {
		t.Fatal(err)
	}
	byRatio, _ := d.Add(AddRequest{Metainfo: thirdparty.CreateTorrent(t, data, "ratio.bin", 20<<10, 16<<10), DownloadDir: data})
	unlimited, _ := d.Add(AddRequest{Metainfo: thirdparty.CreateTorrent(t, data, "unlimited.bin", 20<<10, 16<<10), DownloadDir: data, Paused: true})
	d.SetTorrents([]int{unlimited.ID}, func(l *TorrentLimits, _ *TorrentSpeed) { l.RatioMode = ModeUnlimited })
	d.Start([]int{unlimited.ID})
	byIdle, _ := d.Add(AddRequest{Metainfo: thirdparty.CreateTorrent(t, data, "idle.bin", 20<<10, 16<<10), DownloadDir: data, Paused: true})
	d.SetTorrents([]int{byIdle.ID}, func(l *TorrentLimits, _ *TorrentSpeed) {
		l.RatioMode = ModeUnlimited
		l.IdleMode, l.IdleMinutes = ModeSingle, 0
	})
	d.Start([]int{byIdle.ID})

	for _, id := range []int{byRatio.ID, byIdle.ID} {
		v := waitStatus(t, d, id, StatusStopped)
		if !v.Finished || v.PercentDone != 1 {
			t.Errorf("torrent %d stopped by a limit: finished %v, done %v", id, v.Finished, v.PercentDone)
		}
	}
	time.Sleep(2 * tickInterval) // a few ticks with the limits in force
	if v := d.Torrents([]int{unlimited.ID}, false)[0]; v.Status != StatusSeed || v.Finished {
		t.Errorf("the unlimited torrent: status %d, finished %v", v.Status, v.Finished)
	}
}

// TestVerifyAndRemove: verify finds damage and the torrent runs on incomplete; remove with
// data deletes the files and every trace in the state directory.
func TestVerifyAndRemove(t *testing.T) {
	state, data := t.TempDir(), t.TempDir()
	d := open(t, state)
	defer d.Close()
	a, _ := d.Add(AddRequest{Metainfo: thirdparty.CreateTorrent(t, data, "v.bin", 64<<10, 16<<10), DownloadDir: data})
	waitStatus(t, d, a.ID, StatusSeed)
	if err := os.WriteFile(filepath.Join(data, "v.bin"), make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Verify([]int{a.ID})
	v := waitStatus(t, d, a.ID, StatusDownload)
	if v.PercentDone != 0 {
		t.Errorf("after verifying zeroed data: %v done", v.PercentDone)
	}
	d.Remove([]int{a.ID}, true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errData := os.Stat(filepath.Join(data, "v.bin"))
		_, errTorrent := os.Stat(filepath.Join(state, "torrents", a.Hash+".torrent"))
		if os.IsNotExist(errData) && os.IsNotExist(errTorrent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after remove with data: data %v, torrent file %v", errData, errTorrent)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ids := d.IDs(); len(ids) != 0 {
		t.Errorf("after remove: %v", ids)
	}
}
