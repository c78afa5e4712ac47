package thirdparty

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/speedbt/btt/internal/testutil"
)

func TestWritePcapHandshakeDecodesAsBittorrent(t *testing.T) {
	testutil.NeedTool(t, "tshark")
	hs := testutil.Vector(t, "bt/libtorrent-2.0.8/handshake.bin")
	ext := testutil.Vector(t, "bt/libtorrent-2.0.8/ext-handshake-seed.bin")
	piece := testutil.Vector(t, "bt/libtorrent-2.0.8/piece.bin")
	req := testutil.Vector(t, "bt/libtorrent-2.0.8/request.bin")
	pcap := filepath.Join(t.TempDir(), "hs.pcap")
	err := WritePcap(pcap, []Packet{
		{Payload: hs, SrcPort: 40000, DstPort: 51413},
		{Payload: hs, SrcPort: 51413, DstPort: 40000},
		{Payload: ext, SrcPort: 51413, DstPort: 40000},
		{Payload: req, SrcPort: 40000, DstPort: 51413},
		// A piece split across two segments: tshark must reassemble it.
		{Payload: piece[:1000], SrcPort: 51413, DstPort: 40000},
		{Payload: piece[1000:], SrcPort: 51413, DstPort: 40000},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := CheckPcap(t, pcap, "tcp.port==51413,bittorrent")
	t.Log(r)
	r.Expect(t, "bittorrent")
	// 3 handshake segments + 6 payload segments.
	if r.Frames != 9 {
		t.Errorf("frames = %d, want 9", r.Frames)
	}
	if r.Protocols["bittorrent"] != 5 {
		t.Errorf("bittorrent frames = %d, want 5 (the piece's first segment is only reassembled)", r.Protocols["bittorrent"])
	}
}

// The checks must be able to fail: a truncated message is flagged malformed,
// and a capture decoded without the decode-as option has no bittorrent frames.
// (tshark 4.0 does not flag every short message: a 3-byte request passes.)
func TestCheckPcapDetectsMalformed(t *testing.T) {
	testutil.NeedTool(t, "tshark")
	hs := testutil.Vector(t, "bt/libtorrent-2.0.8/handshake.bin")
	cases := map[string][]byte{
		"piece too short": {0, 0, 0, 5, 7, 0, 0, 0, 1},
		"bad bencode":     append([]byte{0, 0, 0, 6, 20, 0}, "d1:a"...),
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			pcap := filepath.Join(t.TempDir(), "bad.pcap")
			if err := WritePcap(pcap, []Packet{{Payload: hs, SrcPort: 40000, DstPort: 51413}, {Payload: msg, SrcPort: 40000, DstPort: 51413}}); err != nil {
				t.Fatal(err)
			}
			r := CheckPcap(t, pcap, "tcp.port==51413,bittorrent")
			t.Log(r)
			if len(r.Malformed) == 0 {
				t.Errorf("no malformed frame reported")
			}
		})
	}
}

func TestCheckPcapWithoutDecodeAsFindsNoBittorrent(t *testing.T) {
	testutil.NeedTool(t, "tshark")
	pcap := filepath.Join(t.TempDir(), "x.pcap")
	if err := WritePcap(pcap, []Packet{{Payload: testutil.Vector(t, "bt/libtorrent-2.0.8/interested.bin"), SrcPort: 40001, DstPort: 40002}}); err != nil {
		t.Fatal(err)
	}
	r := CheckPcap(t, pcap)
	if r.Protocols["bittorrent"] != 0 || r.Protocols["data"] != 1 {
		t.Errorf("without decode-as: %v; want 0 bittorrent and 1 data frame", r)
	}
}

// Every DHT and uTP reference vector, wrapped as UDP, is taken by tshark's
// bt-dht and bt-utp dissectors without a malformed frame, except libtorrent's
// uTP packets with extension type 3, which tshark 4.0 leaves as plain data.
func TestWritePcapUDPVectors(t *testing.T) {
	testutil.NeedTool(t, "tshark")
	for _, tc := range []struct{ glob, proto string }{
		{"dht/libtorrent-2.0.8/*.bin", "bt-dht"},
		{"utp/libtorrent-2.0.8/*.bin", "bt-utp"},
	} {
		files, err := filepath.Glob(filepath.Join(testutil.SharedDir(t), "vectors", tc.glob))
		if err != nil || len(files) == 0 {
			t.Fatalf("no vectors %s (%v)", tc.glob, err)
		}
		var pkts []Packet
		undissected := 0
		for _, f := range files {
			if strings.Contains(f, "-ext3") {
				undissected++
			}
			rel, _ := filepath.Rel(filepath.Join(testutil.SharedDir(t), "vectors"), f)
			pkts = append(pkts, Packet{Payload: testutil.Vector(t, rel), UDP: true, SrcPort: 40000, DstPort: 51413})
		}
		pcap := filepath.Join(t.TempDir(), "v.pcap")
		if err := WritePcap(pcap, pkts); err != nil {
			t.Fatal(err)
		}
		r := CheckPcap(t, pcap, "udp.port==51413,"+tc.proto)
		t.Log(tc.proto, r)
		r.Expect(t, tc.proto)
		if r.Protocols[tc.proto] != len(pkts)-undissected || r.Protocols["data"] < undissected {
			t.Errorf("%s: %d of %d vectors decoded, %d data frames; want all but the %d with extension 3",
				tc.proto, r.Protocols[tc.proto], len(pkts), r.Protocols["data"], undissected)
		}
	}
}
