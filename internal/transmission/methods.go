package transmission

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/speedbt/btt/internal/daemon"
	"github.com/speedbt/btt/wire/metainfo"
)

// method runs an RPC method on its raw arguments (a JSON object).
type method func(s *Server, args json.RawMessage) (map[string]any, error)

var methods map[string]method

func init() {
	methods = map[string]method{
		"torrent-start":     (*Server).torrentStart,
		"torrent-start-now": (*Server).torrentStart,
		"torrent-stop":      (*Server).torrentStop,
		"torrent-verify":    (*Server).torrentVerify,
		"torrent-remove":    (*Server).torrentRemove,
		"torrent-add":       (*Server).torrentAdd,
		"torrent-get":       (*Server).torrentGet,
		"torrent-set":       (*Server).torrentSet,
		"session-get":       (*Server).sessionGet,
		"session-set":       (*Server).sessionSet,
		"session-stats":     (*Server).sessionStats,
		"free-space":        (*Server).freeSpace,
		"port-test":         (*Server).portTest,
		"session-close":     (*Server).sessionClose,
		// There is no queue and no blocklist: say so rather than pretend.
		"queue-move-top":       refuse("the download queue is not supported"),
		"queue-move-up":        refuse("the download queue is not supported"),
		"queue-move-down":      refuse("the download queue is not supported"),
		"queue-move-bottom":    refuse("the download queue is not supported"),
		"blocklist-update":     refuse("blocklists are not supported"),
		"torrent-reannounce":   refuse("reannouncing on demand is not supported"),
		"torrent-set-location": refuse("moving a torrent's data is not supported"),
		"torrent-rename-path":  refuse("renaming a torrent's files is not supported"),
	}
}

func refuse(msg string) method {
	return func(*Server, json.RawMessage) (map[string]any, error) { return nil, errors.New(msg) }
}

// decode reads arguments into v; a mistyped argument is the caller's error.
func decode(args json.RawMessage, v any) error {
	if err := json.Unmarshal(args, v); err != nil {
		return argError("invalid argument: %v", err)
	}
	return nil
}

// idsArg is the "ids" argument: absent (every torrent), one id, one hash, a list of ids and
// hashes, or "recently-active".
type idsArg struct {
	IDs json.RawMessage `json:"ids"`
}

// selectIDs resolves the ids argument to torrent ids; recent is set for "recently-active".
func (s *Server) selectIDs(raw json.RawMessage) (ids []int, recent bool, err error) {
	all := s.d.IDs()
	if len(raw) == 0 || string(raw) == "null" {
		ids = make([]int, 0, len(all))
		for _, t := range all {
			ids = append(ids, t.ID)
		}
		return ids, false, nil
	}
	var one any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&one); err != nil {
		return nil, false, argError("invalid ids: %v", err)
	}
	items := []any{one}
	if list, ok := one.([]any); ok {
		items = list
	} else if str, ok := one.(string); ok && str == "recently-active" {
		// Torrents active in the last minute, as Transmission's RECENTLY_ACTIVE_SECONDS.
		// Every torrent qualifies while running: it is cheap, and the web client then sees
		// changes as they happen.
		for _, v := range s.d.Torrents(nil, false) {
			if v.Status != daemon.StatusStopped || time.Since(time.Unix(v.Activity, 0)) < time.Minute || time.Since(time.Unix(v.Added, 0)) < time.Minute {
				ids = append(ids, v.ID)
			}
		}
		return ids, true, nil
	}
	byID := map[int]bool{}
	byHash := map[string]int{}
	for _, t := range all {
		byID[t.ID] = true
		byHash[t.Hash] = t.ID
	}
	seen := map[int]bool{}
	for _, it := range items {
		var id int
		switch v := it.(type) {
		case json.Number:
			n, err := v.Int64()
			if err != nil || !byID[int(n)] {
				continue // Transmission skips ids it does not know
			}
			id = int(n)
		case string:
			n, ok := byHash[lower(v)]
			if !ok {
				continue
			}
			id = n
		default:
			return nil, false, argError("invalid ids: %v", it)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, false, nil
}

func (s *Server) idsOf(args json.RawMessage) ([]int, error) {
	var a idsArg
	if err := decode(args, &a); err != nil {
		return nil, err
	}
	ids, _, err := s.selectIDs(a.IDs)
	return ids, err
}

func (s *Server) torrentStart(args json.RawMessage) (map[string]any, error) {
	ids, err := s.idsOf(args)
	if err != nil {
		return nil, err
	}
	s.d.Start(ids)
	return nil, nil
}

func (s *Server) torrentStop(args json.RawMessage) (map[string]any, error) {
	ids, err := s.idsOf(args)
	if err != nil {
		return nil, err
	}
	s.d.Stop(ids)
	return nil, nil
}

func (s *Server) torrentVerify(args json.RawMessage) (map[string]any, error) {
	ids, err := s.idsOf(args)
	if err != nil {
		return nil, err
	}
	s.d.Verify(ids)
	return nil, nil
}

func (s *Server) torrentRemove(args json.RawMessage) (map[string]any, error) {
	var a struct {
		IDs        json.RawMessage `json:"ids"`
		DeleteData bool            `json:"delete-local-data"`
	}
	if err := decode(args, &a); err != nil {
		return nil, err
	}
	ids, _, err := s.selectIDs(a.IDs)
	if err != nil {
		return nil, err
	}
	s.d.Remove(ids, a.DeleteData)
	return nil, nil
}

// maxTorrentFile bounds a .torrent read from the daemon's disk for torrent-add's filename.
const maxTorrentFile = 10 << 20

func (s *Server) torrentAdd(args json.RawMessage) (map[string]any, error) {
	var a struct {
		Filename    string `json:"filename"`
		Metainfo    string `json:"metainfo"`
		DownloadDir string `json:"download-dir"`
		Paused      bool   `json:"paused"`
	}
	if err := decode(args, &a); err != nil {
		return nil, err
	}
	req := daemon.AddRequest{DownloadDir: a.DownloadDir, Paused: a.Paused}
	switch {
	case a.Metainfo != "":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a.Metainfo))
		if err != nil {
			return nil, errors.New("invalid or corrupt torrent file")
		}
		req.Metainfo = b
	case strings.HasPrefix(strings.ToLower(a.Filename), "magnet:"):
		req.Magnet = a.Filename
	case strings.HasPrefix(a.Filename, "http://") || strings.HasPrefix(a.Filename, "https://"):
		return nil, errors.New("fetching torrents by URL is not supported; send the metainfo")
	case a.Filename != "":
		b, err := readTorrentFile(a.Filename)
		if err != nil {
			return nil, errors.New("invalid or corrupt torrent file")
		}
		req.Metainfo = b
	default:
		return nil, errors.New("no filename or metainfo specified")
	}
	if req.Metainfo != nil {
		if _, err := metainfo.Parse(req.Metainfo); err != nil {
			return nil, errors.New("invalid or corrupt torrent file")
		}
	}
	added, err := s.d.Add(req)
	if err != nil {
		return nil, err
	}
	key := "torrent-added"
	if added.Duplicate {
		key = "torrent-duplicate"
	}
	return map[string]any{key: map[string]any{"id": added.ID, "name": added.Name, "hashString": added.Hash}}, nil
}

// readTorrentFile reads a .torrent named by torrent-add: a regular file (not a device or a
// pipe that never ends) of at most maxTorrentFile bytes, read through a limit in case it
// grows meanwhile.
func readTorrentFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxTorrentFile {
		return nil, fmt.Errorf("%s: not a regular file of at most %d bytes", name, maxTorrentFile)
	}
	return io.ReadAll(io.LimitReader(f, maxTorrentFile))
}

func (s *Server) torrentGet(args json.RawMessage) (map[string]any, error) {
	var a struct {
		IDs    json.RawMessage `json:"ids"`
		Fields []string        `json:"fields"`
	}
	if err := decode(args, &a); err != nil {
		return nil, err
	}
	ids, recent, err := s.selectIDs(a.IDs)
	if err != nil {
		return nil, err
	}
	if len(a.Fields) == 0 {
		return nil, errors.New("no fields specified")
	}
	withFiles := false
	for _, f := range a.Fields {
		if f == "files" || f == "fileStats" || f == "wanted" || f == "priorities" {
			withFiles = true
		}
	}
	views := s.d.Torrents(ids, withFiles)
	list := make([]map[string]any, 0, len(views))
	for i := range views {
		list = append(list, torrentFields(&views[i], a.Fields))
	}
	res := map[string]any{"torrents": list}
	if recent {
		res["removed"] = s.d.RecentlyRemoved()
	}
	return res, nil
}

func (s *Server) torrentSet(args json.RawMessage) (map[string]any, error) {
	var a struct {
		IDs             json.RawMessage `json:"ids"`
		SeedRatioMode   *int            `json:"seedRatioMode"`
		SeedRatioLimit  *float64        `json:"seedRatioLimit"`
		SeedIdleMode    *int            `json:"seedIdleMode"`
		SeedIdleLimit   *int            `json:"seedIdleLimit"`
		DownloadLimit   *int64          `json:"downloadLimit"` // kB/s
		DownloadLimitOn *bool           `json:"downloadLimited"`
		BTT             *torrentBTT     `json:"btt"`
	}
	if err := decode(args, &a); err != nil {
		return nil, err
	}
	ids, _, err := s.selectIDs(a.IDs)
	if err != nil {
		return nil, err
	}
	for _, m := range []*int{a.SeedRatioMode, a.SeedIdleMode} {
		if m != nil && (*m < 0 || *m > 2) {
			return nil, argError("invalid mode %d (0 global, 1 single, 2 unlimited)", *m)
		}
	}
	if a.DownloadLimit != nil && (*a.DownloadLimit < 0 || *a.DownloadLimit > 1<<40/kB) {
		return nil, argError("downloadLimit %d out of range", *a.DownloadLimit)
	}
	if a.BTT != nil && a.BTT.SpendingRate != nil && (*a.BTT.SpendingRate < 0 || *a.BTT.SpendingRate > 1) {
		return nil, argError("btt.spending-rate %v is not within 0..1", *a.BTT.SpendingRate)
	}
	return nil, s.d.SetTorrents(ids, func(l *daemon.TorrentLimits, sp *daemon.TorrentSpeed) {
		if a.SeedRatioMode != nil {
			l.RatioMode = daemon.Mode(*a.SeedRatioMode)
		}
		if a.SeedRatioLimit != nil {
			l.Ratio = *a.SeedRatioLimit
		}
		if a.SeedIdleMode != nil {
			l.IdleMode = daemon.Mode(*a.SeedIdleMode)
		}
		if a.SeedIdleLimit != nil {
			l.IdleMinutes = *a.SeedIdleLimit
		}
		if a.DownloadLimit != nil {
			l.DownloadLimit = *a.DownloadLimit * kB
		}
		if a.DownloadLimitOn != nil {
			l.DownloadLimited = *a.DownloadLimitOn
		}
		if b := a.BTT; b != nil {
			if b.SeedTimeMode != nil {
				l.TimeMode = daemon.Mode(*b.SeedTimeMode)
			}
			if b.SeedTimeLimit != nil {
				l.TimeMinutes = *b.SeedTimeLimit
			}
			if b.SpeedOff != nil {
				sp.Off = *b.SpeedOff
			}
			if b.SpendingRate != nil {
				r := *b.SpendingRate
				sp.SpendingRate = &r
			}
		}
	})
}

// torrentBTT is the "btt" object of torrent-set.
type torrentBTT struct {
	SpeedOff      *bool    `json:"speed-off"`
	SpendingRate  *float64 `json:"spending-rate"`
	SeedTimeMode  *int     `json:"seed-time-mode"`
	SeedTimeLimit *int     `json:"seed-time-limit"` // minutes
}

func (s *Server) sessionStats(json.RawMessage) (map[string]any, error) {
	st := s.d.Stats()
	return map[string]any{
		"activeTorrentCount": st.Active,
		"pausedTorrentCount": st.Paused,
		"torrentCount":       st.Torrents,
		"downloadSpeed":      st.RateDown,
		"uploadSpeed":        st.RateUp,
		"current-stats": map[string]any{
			"uploadedBytes":   st.CurrentUp,
			"downloadedBytes": st.CurrentDown,
			"filesAdded":      0,
			"sessionCount":    1,
			"secondsActive":   st.SecondsActive,
		},
		"cumulative-stats": map[string]any{
			"uploadedBytes":   st.Cumulative.Uploaded,
			"downloadedBytes": st.Cumulative.Downloaded,
			"filesAdded":      st.Cumulative.FilesAdded,
			"sessionCount":    st.Cumulative.SessionCount,
			"secondsActive":   st.Cumulative.SecondsActive,
		},
	}, nil
}

func (s *Server) freeSpace(args json.RawMessage) (map[string]any, error) {
	var a struct {
		Path string `json:"path"`
	}
	if err := decode(args, &a); err != nil {
		return nil, err
	}
	if a.Path == "" {
		return nil, errors.New("directory path argument is missing")
	}
	free, err := freeBytes(a.Path)
	if err != nil {
		return nil, fmt.Errorf("free-space: %w", err)
	}
	return map[string]any{"path": a.Path, "size-bytes": free}, nil
}

// portTest says whether our peer port accepts connections. Transmission asks a server on
// the internet; we only have our own machine, so this checks that the listener is up.
func (s *Server) portTest(json.RawMessage) (map[string]any, error) {
	addr := s.d.Addr()
	open := false
	if addr != "" {
		if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c.Close()
			open = true
		}
	}
	return map[string]any{"port-is-open": open}, nil
}

// sessionClose is refused: the daemon is stopped by its service manager (SIGTERM), and a
// web page must not be able to end it.
func (s *Server) sessionClose(json.RawMessage) (map[string]any, error) {
	return nil, errors.New("session-close is not supported; stop the daemon with SIGTERM")
}
