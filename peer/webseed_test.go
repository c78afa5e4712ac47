package peer

import (
	"testing"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/bencode"
	"github.com/speedbt/btt/wire/metainfo"
)

// TestWebSeedURLs: BEP 19's mapping of a url-list entry and a file to the URL fetched.
func TestWebSeedURLs(t *testing.T) {
	file := metainfo.File{Path: []string{"my torrent", "sub dir", "a#1.bin"}}
	single := metainfo.File{Path: []string{"one file.iso"}}
	multiInfo := mustInfo(t, true)
	singleInfo := mustInfo(t, false)
	tests := []struct {
		url  string
		info *metainfo.Info
		f    metainfo.File
		want string
	}{
		{"http://h/base/", multiInfo, file, "http://h/base/my%20torrent/sub%20dir/a%231.bin"},
		{"http://h/base", multiInfo, file, "http://h/base/my%20torrent/sub%20dir/a%231.bin"},
		{"http://h/dl/one.iso", singleInfo, single, "http://h/dl/one.iso"},
		{"http://h/dl/", singleInfo, single, "http://h/dl/one%20file.iso"},
	}
	for _, tt := range tests {
		ws := &webSeed{url: tt.url, info: tt.info}
		if got := ws.fileURL(tt.f); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.url, got, tt.want)
		}
	}
	for _, bad := range []string{"ftp://h/x", "://", "file:///etc/passwd"} {
		if _, err := webSeedAddr(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// mustInfo is a tiny parsed info dictionary, multi-file or not.
func mustInfo(t *testing.T, multi bool) *metainfo.Info {
	t.Helper()
	var raw string
	if multi {
		raw = "d5:filesld6:lengthi1e4:pathl1:aeee4:name10:my torrent12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae"
	} else {
		raw = "d6:lengthi1e4:name12:one file.iso12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae"
	}
	info, err := metainfo.ParseInfo([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestPeerUploadOnly(t *testing.T) {
	for v, want := range map[string]bool{"i1e": true, "i0e": false, "i2e": true, "1:1": false, "": false} {
		h := wire.ExtendedHandshake{}
		if v != "" {
			h.Extra = map[string]bencode.RawMessage{"upload_only": bencode.RawMessage(v)}
		}
		if got := peerUploadOnly(h); got != want {
			t.Errorf("upload_only %q: %v, want %v", v, got, want)
		}
	}
}
