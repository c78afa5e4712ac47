package metainfo

import "github.com/speedbt/btt/wire/magnet"

// Magnet returns a magnet link for the torrent: its info-hashes (v1 unless v2-only, v2 when
// present), name, every tracker of every tier in order, and web seeds.
func (m *MetaInfo) Magnet() *magnet.Magnet {
	mg := &magnet.Magnet{
		DisplayName: m.Info.Name,
		WebSeeds:    m.URLList,
	}
	if m.Info.HasV1() {
		mg.InfoHash, mg.HasV1 = m.Info.Hash(), true
	}
	if h, ok := m.Info.HashV2(); ok {
		mg.InfoHashV2, mg.HasV2 = h, true
	}
	for _, tier := range m.Trackers() {
		mg.Trackers = append(mg.Trackers, tier...)
	}
	return mg
}
