package daemon

import (
	"encoding/hex"
	"path"
	"time"

	"github.com/speedbt/btt/peer"
)

func hashHex(h [20]byte) string { return hex.EncodeToString(h[:]) }

// Status is what a torrent is doing, numbered as Transmission's tr_torrent_activity so the
// RPC passes it through.
type Status int

// The statuses.
const (
	StatusStopped      Status = 0
	StatusCheckWait    Status = 1
	StatusCheck        Status = 2
	StatusDownloadWait Status = 3
	StatusDownload     Status = 4
	StatusSeedWait     Status = 5
	StatusSeed         Status = 6
)

// FileView is one file of a torrent.
type FileView struct {
	Name           string // slash-separated, starting with the torrent's folder for multi-file torrents
	Length         int64
	BytesCompleted int64 // bytes of verified pieces that fall in the file
}

// View is a snapshot of one torrent for the RPC and metrics.
type View struct {
	ID          int
	Hash        string
	Name        string
	DownloadDir string
	Magnet      string
	Error       string
	Status      Status
	Finished    bool // stopped by a seeding limit
	Complete    bool
	HasMetadata bool

	TotalSize, SizeWhenDone, LeftUntilDone, HaveValid int64
	PercentDone                                       float64
	RateUp, RateDown                                  int64
	UploadedEver, DownloadedEver, CorruptEver         int64
	Ratio                                             float64
	ETA                                               int64 // seconds; -1 not available
	Peers                                             peer.PeerSummary
	PieceCount                                        int
	PieceSize                                         int64
	Added, Done, Activity, Started                    int64 // Unix seconds, 0 for never
	SecondsSeeding                                    int64
	MaxPeers                                          int // the session's per-torrent peer limit
	Limits                                            TorrentLimits
	Speed                                             TorrentSpeed
	Private                                           bool
	Comment, Creator                                  string
	DateCreated                                       int64
	Trackers                                          [][]string
	Stats                                             peer.Stats       // this run's counters (Speed, bans, hash failures)
	SpeedStatus                                       peer.SpeedStatus // bids and prices, as of the last tick (Speed on)
	Files                                             []FileView       // only when asked for
}

// IDHash names a torrent both ways the RPC accepts.
type IDHash struct {
	ID   int
	Hash string
}

// IDs lists every torrent, by id.
func (d *Daemon) IDs() []IDHash {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]IDHash, 0, len(d.entries))
	for _, id := range d.sortedIDs() {
		out = append(out, IDHash{id, d.entries[id].rec.Hash})
	}
	return out
}

// Torrents returns views of the torrents with these ids (nil: all), in id order. Files are
// listed only with files set: they cost a pass over the pieces.
func (d *Daemon) Torrents(ids []int, files bool) []View {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ids == nil {
		ids = d.sortedIDs()
	}
	now := time.Now()
	out := make([]View, 0, len(ids))
	for _, id := range ids {
		e := d.entries[id]
		if e == nil {
			continue
		}
		v := d.viewLocked(e, now)
		if files {
			v.Files = e.files()
		}
		out = append(out, v)
	}
	return out
}

func (d *Daemon) viewLocked(e *entry, now time.Time) View {
	v := View{
		ID:          e.rec.ID,
		Hash:        e.rec.Hash,
		Name:        e.rec.Name,
		DownloadDir: e.rec.DownloadDir,
		Magnet:      e.rec.Magnet,
		Error:       e.rec.Error,
		Finished:    e.rec.Finished,
		HasMetadata: e.info != nil,
		Added:       e.rec.Added,
		Done:        e.rec.Done,
		Activity:    e.rec.Activity,
		Limits:      e.rec.Limits,
		Speed:       e.rec.Speed,
		Trackers:    e.trackers,
		ETA:         -1,
		MaxPeers:    d.settings.PeerLimitPerTorrent,
	}
	st := e.last
	if e.t != nil {
		st = e.t.Stats()
		v.Started = e.startedAt.Unix()
	}
	v.Stats = st
	v.UploadedEver = e.rec.Uploaded + st.Uploaded - e.base.Uploaded
	v.DownloadedEver = e.rec.Downloaded + st.Downloaded - e.base.Downloaded
	v.CorruptEver = e.rec.Corrupt + st.Wasted - e.base.Wasted
	v.SecondsSeeding = e.rec.SecondsSeeding + int64(e.seedingAcc.Seconds())
	if e.info != nil {
		v.TotalSize = e.info.TotalLength
		v.PieceCount = e.info.NumPieces()
		v.PieceSize = e.info.PieceLength
		v.Private = e.info.Private
	}
	if e.mi != nil {
		v.Comment, v.Creator = e.mi.Comment, e.mi.CreatedBy
		if !e.mi.CreationDate.IsZero() {
			v.DateCreated = e.mi.CreationDate.Unix()
		}
	}
	v.SizeWhenDone = v.TotalSize
	v.HaveValid = st.BytesDone
	if st.Pieces == 0 { // never ran in this process: the figure saved at the last stop
		v.HaveValid = e.rec.Have
	}
	v.LeftUntilDone = max(v.SizeWhenDone-v.HaveValid, 0)
	v.Complete = e.info != nil && v.LeftUntilDone == 0
	if v.SizeWhenDone > 0 {
		v.PercentDone = float64(v.HaveValid) / float64(v.SizeWhenDone)
	}
	v.RateUp, v.RateDown = int64(e.rateUp), int64(e.rateDown)
	v.Peers = e.peers
	v.SpeedStatus = e.speed
	v.Ratio = SeedProgress{Size: v.SizeWhenDone, Uploaded: v.UploadedEver, Downloaded: v.DownloadedEver}.Ratio()
	switch e.phase {
	case phaseStopped:
		v.Status = StatusStopped
	case phaseCheckWait:
		v.Status = StatusCheckWait
	case phaseChecking:
		v.Status = StatusCheck
	case phaseFetching:
		v.Status = StatusDownload
	case phaseRunning:
		v.Status = StatusDownload
		if v.Complete {
			v.Status = StatusSeed
		}
	}
	if v.Status == StatusDownload && v.RateDown > 0 {
		v.ETA = v.LeftUntilDone / v.RateDown
	}
	return v
}

// files lists the entry's files with what is verified of each; the caller holds d.mu.
func (e *entry) files() []FileView {
	if e.info == nil {
		return []FileView{}
	}
	var have []bool
	if e.t != nil {
		have = e.t.HavePieces()
	} else {
		have = e.haveSnap
	}
	pl := e.info.PieceLength
	out := make([]FileView, 0, len(e.info.Files))
	for _, f := range e.info.Files {
		if f.Pad {
			continue
		}
		fv := FileView{Name: path.Join(f.Path...), Length: f.Length}
		if !e.info.IsMultiFile() {
			fv.Name = e.info.Name
		}
		for off := f.Offset; off < f.Offset+f.Length && have != nil; {
			i := off / pl
			end := min((i+1)*pl, f.Offset+f.Length)
			if int(i) < len(have) && have[i] {
				fv.BytesCompleted += end - off
			}
			off = end
		}
		out = append(out, fv)
	}
	return out
}

// SessionStats are Transmission's session-stats figures.
type SessionStats struct {
	Torrents, Active, Paused int
	RateUp, RateDown         int64
	CurrentUp, CurrentDown   int64 // this run
	Cumulative               Totals
	SecondsActive            int64 // this run
}

// Stats returns the session's figures.
func (d *Daemon) Stats() SessionStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s SessionStats
	s.Torrents = len(d.entries)
	s.CurrentUp, s.CurrentDown = d.sessionUp, d.sessionDown
	for _, e := range d.entries {
		if e.phase == phaseStopped {
			s.Paused++
		} else {
			s.Active++
		}
		s.RateUp += int64(e.rateUp)
		s.RateDown += int64(e.rateDown)
		if e.t != nil {
			st := e.t.Stats()
			s.CurrentUp += st.Uploaded - e.base.Uploaded
			s.CurrentDown += st.Downloaded - e.base.Downloaded
		}
	}
	s.SecondsActive = int64(time.Since(d.startedAt).Seconds())
	s.Cumulative = d.totals
	s.Cumulative.Uploaded += s.CurrentUp - d.sessionUp
	s.Cumulative.Downloaded += s.CurrentDown - d.sessionDown
	s.Cumulative.SecondsActive += s.SecondsActive
	return s
}
