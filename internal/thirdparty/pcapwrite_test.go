package thirdparty

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestOnesSum(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want uint16
	}{
		// RFC 1071 section 3 example: 0001 f203 f4f5 f6f7 sums to ddf2.
		{[]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0xddf2},
		{nil, 0},
		{[]byte{0xff}, 0xff00},                   // odd length pads with zero
		{[]byte{0xff, 0xff, 0x00, 0x01}, 0x0001}, // end-around carry
	} {
		if got := onesSum(0, tc.in); got != tc.want {
			t.Errorf("onesSum(% x) = %04x, want %04x", tc.in, got, tc.want)
		}
	}
}

// readPcap splits a classic pcap into frames (test helper, no validation
// beyond what the test needs).
func readPcap(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
		t.Fatalf("bad pcap header % x", b[:min(len(b), 24)])
	}
	var frames [][]byte
	for b = b[24:]; len(b) > 0; {
		if len(b) < 16 {
			t.Fatalf("truncated record header")
		}
		n := int(binary.LittleEndian.Uint32(b[8:]))
		if len(b) < 16+n || binary.LittleEndian.Uint32(b[12:]) != uint32(n) {
			t.Fatalf("bad record length %d", n)
		}
		frames = append(frames, b[16:16+n])
		b = b[16+n:]
	}
	return frames
}

func TestWritePcapLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pcap")
	big := bytes.Repeat([]byte{0xab}, maxTCPSegment+10)
	err := WritePcap(path, []Packet{
		{Payload: []byte("hello"), SrcPort: 1000, DstPort: 2000},
		{Payload: []byte("world!"), SrcPort: 2000, DstPort: 1000},
		{Payload: big, SrcPort: 1000, DstPort: 2000},
		{Payload: []byte("dgram"), UDP: true, SrcPort: 3000, DstPort: 4000},
	})
	if err != nil {
		t.Fatal(err)
	}
	frames := readPcap(t, path)
	// SYN, SYN-ACK, ACK, hello, world!, big split in two, one datagram.
	if len(frames) != 8 {
		t.Fatalf("%d frames, want 8", len(frames))
	}
	type seg struct {
		sport, dport uint16
		seq, ack     uint32
		flags        byte
		n            int
	}
	var got []seg
	for i, f := range frames {
		ip := f[14:]
		if onesSum(0, ip[:20]) != 0xffff {
			t.Errorf("frame %d: bad IPv4 header checksum", i)
		}
		if int(binary.BigEndian.Uint16(ip[2:])) != len(ip) {
			t.Errorf("frame %d: IP total length %d, frame has %d", i, binary.BigEndian.Uint16(ip[2:]), len(ip))
		}
		l4 := ip[20:]
		var src, dst [4]byte
		copy(src[:], ip[12:16])
		copy(dst[:], ip[16:20])
		// A correct checksum makes the sum over pseudo-header and segment all ones.
		if c := transportChecksum(ip[9], src, dst, l4); c != 0 && !(ip[9] == 17 && c == 0xffff) {
			t.Errorf("frame %d: bad transport checksum (residue %04x)", i, c)
		}
		if ip[9] == 6 {
			got = append(got, seg{binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:]),
				binary.BigEndian.Uint32(l4[4:]), binary.BigEndian.Uint32(l4[8:]), l4[13], len(l4) - 20})
		}
	}
	want := []seg{
		{1000, 2000, 1000, 0, tcpSYN, 0},
		{2000, 1000, 5000, 1001, tcpSYN | tcpACK, 0},
		{1000, 2000, 1001, 5001, tcpACK, 0},
		{1000, 2000, 1001, 5001, tcpPSH | tcpACK, 5},
		{2000, 1000, 5001, 1006, tcpPSH | tcpACK, 6},
		{1000, 2000, 1006, 5007, tcpPSH | tcpACK, maxTCPSegment},
		{1000, 2000, 1006 + maxTCPSegment, 5007, tcpPSH | tcpACK, 10},
	}
	if len(got) != len(want) {
		t.Fatalf("%d TCP segments, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("segment %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if u := frames[7][14+20:]; string(u[8:]) != "dgram" || binary.BigEndian.Uint16(u[4:]) != 13 {
		t.Errorf("UDP datagram = % x", u)
	}
}

func TestWritePcapRejectsHugeDatagram(t *testing.T) {
	err := WritePcap(filepath.Join(t.TempDir(), "x.pcap"), []Packet{{Payload: make([]byte, maxUDPPayload+1), UDP: true, SrcPort: 1, DstPort: 2}})
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("err = %v, want ErrPayloadTooLarge", err)
	}
}

func TestParseTsharkJSON(t *testing.T) {
	const out = `[
 {"_source":{"layers":{"frame.number":["1"],"frame.protocols":["eth:ethertype:ip:tcp"],
   "_ws.expert.severity":["2097152"],"_ws.expert.group":["33554432"],"_ws.expert.message":["Connection establish request (SYN)"]}}},
 {"_source":{"layers":{"frame.number":["2"],"frame.protocols":["eth:ethertype:ip:tcp:bittorrent:bencode"],
   "_ws.expert.severity":["6291456"],"_ws.expert.group":["83886080"],"_ws.expert.message":["Trailing stray characters"]}}},
 {"_source":{"layers":{"frame.number":["3"],"frame.protocols":["eth:ethertype:ip:tcp:bittorrent"],"_ws.malformed":["[Malformed Packet: BitTorrent]"],
   "_ws.expert.severity":["8388608"],"_ws.expert.group":["117440512"],"_ws.expert.message":["Malformed Packet (Exception occurred)"]}}}
]`
	r, err := parseTsharkJSON([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.Frames != 3 || len(r.Malformed) != 1 || r.Malformed[0] != 3 {
		t.Errorf("frames %d malformed %v", r.Frames, r.Malformed)
	}
	if r.Protocols["bittorrent"] != 2 || r.Protocols["tcp"] != 3 || r.Protocols["bencode"] != 1 {
		t.Errorf("protocols %v", r.Protocols)
	}
	want := []Expert{
		{Frame: 2, Severity: "warning", Group: "undecoded", Message: "Trailing stray characters"},
		{Frame: 3, Severity: "error", Group: "malformed", Message: "Malformed Packet (Exception occurred)"},
	}
	if len(r.Experts) != len(want) {
		t.Fatalf("experts %+v, want %+v", r.Experts, want)
	}
	for i := range want {
		if r.Experts[i] != want[i] {
			t.Errorf("expert %d = %+v, want %+v", i, r.Experts[i], want[i])
		}
	}
	if _, err := parseTsharkJSON([]byte("not json")); err == nil {
		t.Error("garbage parsed without error")
	}
}
