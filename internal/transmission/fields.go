package transmission

import (
	"net/url"
	"path"

	"github.com/speedbt/btt/internal/daemon"
	"github.com/speedbt/btt/peer"
)

// Transmission's torrent error codes.
const (
	errNone  = 0
	errLocal = 3
)

// Transmission's special ratios.
const (
	ratioNA  = -1
	ratioInf = -2
)

// torrentFields answers torrent-get's field list for one torrent. Fields we do not know are
// left out, as Transmission leaves them out.
func torrentFields(v *daemon.View, fields []string) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if val, ok := field(v, f); ok {
			out[f] = val
		}
	}
	return out
}

func field(v *daemon.View, name string) (any, bool) {
	switch name {
	case "id":
		return v.ID, true
	case "hashString":
		return v.Hash, true
	case "name":
		return v.Name, true
	case "downloadDir":
		return v.DownloadDir, true
	case "status":
		return int(v.Status), true
	case "error":
		if v.Error != "" {
			return errLocal, true
		}
		return errNone, true
	case "errorString":
		return v.Error, true
	case "percentDone":
		return v.PercentDone, true
	case "metadataPercentComplete":
		if v.HasMetadata {
			return 1.0, true
		}
		return 0.0, true
	case "recheckProgress":
		return 0.0, true
	case "totalSize":
		return v.TotalSize, true
	case "sizeWhenDone":
		return v.SizeWhenDone, true
	case "leftUntilDone":
		return v.LeftUntilDone, true
	case "haveValid":
		return v.HaveValid, true
	case "haveUnchecked":
		return 0, true
	case "desiredAvailable":
		if v.Peers.SendingToUs > 0 {
			return v.LeftUntilDone, true
		}
		return 0, true
	case "rateDownload":
		return v.RateDown, true
	case "rateUpload":
		return v.RateUp, true
	case "uploadedEver":
		return v.UploadedEver, true
	case "downloadedEver":
		return v.DownloadedEver, true
	case "corruptEver":
		return v.CorruptEver, true
	case "uploadRatio":
		return uploadRatio(v), true
	case "eta":
		return v.ETA, true
	case "etaIdle":
		return -1, true
	case "peersConnected":
		return v.Peers.Connected, true
	case "peersSendingToUs":
		return v.Peers.SendingToUs, true
	case "peersGettingFromUs":
		return v.Peers.GettingFrom, true
	case "webseedsSendingToUs":
		return 0, true
	case "peers":
		return peers(v), true
	case "peersFrom":
		return map[string]int{"fromCache": 0, "fromDht": 0, "fromIncoming": 0, "fromLpd": 0, "fromLtep": 0, "fromPex": 0, "fromTracker": 0}, true
	case "pieceCount":
		return v.PieceCount, true
	case "pieceSize":
		return v.PieceSize, true
	case "isPrivate":
		return v.Private, true
	case "isFinished":
		return v.Finished, true
	case "isStalled":
		return false, true
	case "queuePosition":
		return v.ID - 1, true
	case "seedRatioMode":
		return int(v.Limits.RatioMode), true
	case "seedRatioLimit":
		return v.Limits.Ratio, true
	case "seedIdleMode":
		return int(v.Limits.IdleMode), true
	case "seedIdleLimit":
		return v.Limits.IdleMinutes, true
	case "addedDate":
		return v.Added, true
	case "doneDate":
		return v.Done, true
	case "activityDate":
		return v.Activity, true
	case "startDate":
		return v.Started, true
	case "dateCreated":
		return v.DateCreated, true
	case "secondsSeeding":
		return v.SecondsSeeding, true
	case "comment":
		return v.Comment, true
	case "creator":
		return v.Creator, true
	case "magnetLink":
		return magnetLink(v), true
	case "bandwidthPriority":
		return 0, true
	case "honorsSessionLimits":
		return true, true
	case "maxConnectedPeers", "peer-limit":
		return v.MaxPeers, true
	case "labels":
		return []string{}, true
	case "downloadLimited":
		return v.Limits.DownloadLimited, true
	case "downloadLimit":
		return v.Limits.DownloadLimit / kB, true
	case "uploadLimited": // a torrent's own upload limit is not supported: the session's applies
		return false, true
	case "uploadLimit":
		return 0, true
	case "manualAnnounceTime":
		return -1, true
	case "trackers":
		return trackers(v), true
	case "trackerStats":
		return trackerStats(v), true
	case "files":
		out := make([]map[string]any, len(v.Files))
		for i, f := range v.Files {
			out[i] = map[string]any{"name": f.Name, "length": f.Length, "bytesCompleted": f.BytesCompleted}
		}
		return out, true
	case "fileStats":
		out := make([]map[string]any, len(v.Files))
		for i, f := range v.Files {
			out[i] = map[string]any{"bytesCompleted": f.BytesCompleted, "wanted": true, "priority": 0}
		}
		return out, true
	case "wanted":
		out := make([]int, len(v.Files))
		for i := range out {
			out[i] = 1
		}
		return out, true
	case "priorities":
		return make([]int, len(v.Files)), true
	case "btt":
		return map[string]any{
			"speed":           v.Speed,
			"seed-time-mode":  int(v.Limits.TimeMode),
			"seed-time-limit": v.Limits.TimeMinutes,
			"stats":           v.Stats,
			"bid":             v.SpeedStatus.Bid,
			"reserve":         v.SpeedStatus.Reserve,
			"paying-peers":    paying(v),
		}, true
	}
	return nil, false
}

// uploadRatio is Transmission's: uploaded over downloaded (or over what is verified when
// nothing was downloaded), -1 when there is nothing to divide, -2 for infinity.
func uploadRatio(v *daemon.View) float64 {
	base := v.DownloadedEver
	if base == 0 {
		base = v.HaveValid
	}
	switch {
	case base > 0:
		return float64(v.UploadedEver) / float64(base)
	case v.UploadedEver > 0:
		return ratioInf
	}
	return ratioNA
}

// peers lists the connections in Transmission's terms, where "client" is us: clientIsChoked
// means the peer chokes us, peerIsChoked that we choke it.
func peers(v *daemon.View) []map[string]any {
	out := make([]map[string]any, 0, len(v.Peers.List))
	for _, p := range v.Peers.List {
		downloading := !p.PeerChoking && p.AmInterested
		uploading := !p.AmChoking && p.PeerInterested
		out = append(out, map[string]any{
			"address": p.Addr.Addr().String(), "port": p.Addr.Port(), "clientName": p.Client,
			"clientIsChoked": p.PeerChoking, "clientIsInterested": p.AmInterested,
			"peerIsChoked": p.AmChoking, "peerIsInterested": p.PeerInterested,
			"isDownloadingFrom": downloading, "isUploadingTo": uploading,
			"isIncoming": p.Incoming, "isUTP": p.UTP, "isEncrypted": false,
			"progress": p.Progress, "rateToClient": int64(p.DownRate), "rateToPeer": int64(p.UpRate),
			"flagStr": flagStr(p, downloading, uploading),
		})
	}
	return out
}

// flagStr is Transmission's one-letter summary of a connection: D downloading, d interested
// but choked, K unchoked by an uninteresting peer, U uploading, u choking an interested peer,
// ? unchoking an uninterested one, I incoming, T uTP.
func flagStr(p peer.PeerInfo, downloading, uploading bool) string {
	var b []byte
	switch {
	case downloading:
		b = append(b, 'D')
	case p.AmInterested:
		b = append(b, 'd')
	case !p.PeerChoking:
		b = append(b, 'K')
	}
	switch {
	case uploading:
		b = append(b, 'U')
	case p.PeerInterested:
		b = append(b, 'u')
	case !p.AmChoking:
		b = append(b, '?')
	}
	if p.Incoming {
		b = append(b, 'I')
	}
	if p.UTP {
		b = append(b, 'T')
	}
	return string(b)
}

func magnetLink(v *daemon.View) string {
	if v.Magnet != "" {
		return v.Magnet
	}
	q := url.Values{}
	q.Set("dn", v.Name)
	link := "magnet:?xt=urn:btih:" + v.Hash + "&" + q.Encode()
	for _, tier := range v.Trackers {
		for _, tr := range tier {
			link += "&tr=" + url.QueryEscape(tr)
		}
	}
	return link
}

func trackers(v *daemon.View) []map[string]any {
	out := []map[string]any{}
	id := 0
	for tier, urls := range v.Trackers {
		for _, u := range urls {
			out = append(out, map[string]any{"announce": u, "scrape": scrapeURL(u), "id": id, "tier": tier})
			id++
		}
	}
	return out
}

// trackerStats lists the trackers with what we know of them: their URL and tier. Per-tracker
// announce results are not kept by the session; the counts say -1 (unknown), as
// Transmission does before its first announce.
func trackerStats(v *daemon.View) []map[string]any {
	out := []map[string]any{}
	id := 0
	for tier, urls := range v.Trackers {
		for _, u := range urls {
			host := u
			if pu, err := url.Parse(u); err == nil {
				host = pu.Scheme + "://" + pu.Host
			}
			out = append(out, map[string]any{
				"announce": u, "scrape": scrapeURL(u), "host": host, "id": id, "tier": tier,
				"isBackup": false, "announceState": 0, "scrapeState": 0,
				"seederCount": -1, "leecherCount": -1, "downloadCount": -1,
				"lastAnnounceSucceeded": false, "hasAnnounced": false, "lastAnnounceResult": "",
				"lastAnnouncePeerCount": 0, "lastAnnounceTime": 0, "nextAnnounceTime": 0,
				"lastScrapeSucceeded": false, "hasScraped": false, "lastScrapeResult": "", "lastScrapeTime": 0,
			})
			id++
		}
	}
	return out
}

// scrapeURL follows the convention: an announce URL whose last path element starts with
// "announce" has a scrape URL with "scrape" in its place; others have none.
func scrapeURL(announce string) string {
	u, err := url.Parse(announce)
	if err != nil {
		return ""
	}
	dir, last := path.Split(u.Path)
	if len(last) < 8 || last[:8] != "announce" {
		return ""
	}
	u.Path = dir + "scrape" + last[8:]
	return u.String()
}

func paying(v *daemon.View) int {
	n := 0
	for _, p := range v.SpeedStatus.Peers {
		if p.Paying {
			n++
		}
	}
	return n
}
