package conformance

// Conformance of the wire package with Wireshark's BitTorrent dissector (TShark 4.0):
// a conversation of every message type we encode, written to a pcap, must decode with
// no malformed frame and no expert error, and tshark must read back the same messages
// and fields we meant to send. Runs tshark on a file only; no network, no netns.

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/internal/thirdparty"
	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/bencode"
)

const (
	wireClientPort = 40000
	wireServerPort = 6881
)

// wireConversation returns the two byte streams of a synthetic peer-wire conversation
// and the messages in each, in order.
func wireConversation(t *testing.T) (client, server []byte, clientMsgs, serverMsgs []wire.Message) {
	infoHash := [20]byte{0x74, 0xa3, 0x23, 0xf7, 0x32, 0xe7, 0x46, 0xde, 0xac, 0x9e, 0x29, 0xe6, 0xe8, 0x42, 0x8d, 0x78, 0xa6, 0x8b, 0x92, 0xcd}
	var reserved wire.Reserved
	reserved.SetExtended(true)
	reserved.SetFast(true)
	reserved.SetDHT(true)
	client = wire.AppendHandshake(nil, wire.Handshake{Reserved: reserved, InfoHash: infoHash, PeerID: [20]byte([]byte("-BT0001-abcdefghijkl"))})
	server = wire.AppendHandshake(nil, wire.Handshake{Reserved: reserved, InfoHash: infoHash, PeerID: [20]byte([]byte("-BT0001-mnopqrstuvwx"))})

	ext := wire.AppendExtendedHandshake(nil, wire.ExtendedHandshake{
		M: map[string]int{wire.ExtMetadata: 2, wire.ExtPEX: 1}, V: "btt/0.1", P: 6881, Reqq: 500,
		YourIP: []byte{127, 0, 0, 1}, MetadataSize: 1008,
		Extra: map[string]bencode.RawMessage{"upload_only": bencode.RawMessage("i0e")},
	})
	pex := wire.AppendPEX(nil, wire.PEX{
		Added:   []wire.PEXPeer{{Addr: netip.MustParseAddrPort("127.0.0.3:6883"), Flags: wire.PEXSeed | wire.PEXUTP}},
		Dropped: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.4:6884")},
	})
	metaReq := wire.AppendMetadataMessage(nil, wire.MetadataMessage{Type: wire.MetadataRequest, Piece: 0})
	metaData := wire.AppendMetadataMessage(nil, wire.MetadataMessage{Type: wire.MetadataData, Piece: 0, TotalSize: 1008, Data: bytes.Repeat([]byte{'d'}, 1008)})
	block := make([]byte, 16384)
	for i := range block {
		block[i] = byte(i * 7)
	}
	fast := wire.AllowedFastSet(netip.MustParseAddr("127.0.0.1"), infoHash, 1313, 3)

	clientMsgs = []wire.Message{
		{Type: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: ext},
		{Type: wire.Bitfield, Payload: []byte{0xf8, 0x00, 0x48, 0x8b, 0x70}},
		{Type: wire.Interested},
		{Type: wire.Request, Index: 0x21, Begin: 0, Length: 16384},
		{Type: wire.Request, Index: 0x21, Begin: 16384, Length: 16384},
		{Type: wire.Cancel, Index: 0x21, Begin: 16384, Length: 16384},
		{Type: wire.KeepAlive},
		{Type: wire.Port, Port: 6881},
		{Type: wire.Extended, ExtID: 2, Payload: metaReq},
		{Type: wire.Extended, ExtID: 1, Payload: pex},
		{Type: wire.Have, Index: 7},
		{Type: wire.NotInterested},
	}
	serverMsgs = []wire.Message{
		{Type: wire.HaveNone},
		{Type: wire.HaveAll},
		{Type: wire.AllowedFast, Index: fast[0]},
		{Type: wire.AllowedFast, Index: fast[1]},
		{Type: wire.Suggest, Index: fast[2]},
		{Type: wire.Unchoke},
		{Type: wire.Piece, Index: 0x21, Begin: 0, Length: 16384, Payload: block},
		{Type: wire.Reject, Index: 0x21, Begin: 16384, Length: 16384},
		{Type: wire.Choke},
		{Type: wire.Extended, ExtID: 3, Payload: metaData},
	}
	for _, m := range clientMsgs {
		client = wire.AppendMessage(client, m)
	}
	for _, m := range serverMsgs {
		server = wire.AppendMessage(server, m)
	}
	return client, server, clientMsgs, serverMsgs
}

// wireSegments cuts a byte stream into TCP payloads of irregular sizes, so messages both
// share segments and span them, as on a real connection.
func wireSegments(b []byte, src, dst uint16) []thirdparty.Packet {
	var out []thirdparty.Packet
	sizes := []int{68, 1, 300, 5, 4000, 2, 9000, 37}
	for i := 0; len(b) > 0; i++ {
		n := min(len(b), sizes[i%len(sizes)])
		out = append(out, thirdparty.Packet{Payload: b[:n], SrcPort: src, DstPort: dst})
		b = b[n:]
	}
	return out
}

func TestWireTshark(t *testing.T) {
	tshark := testutil.NeedTool(t, "tshark")
	client, server, clientMsgs, serverMsgs := wireConversation(t)

	// Client speaks first (the handshake), then the server, then the rest interleaved.
	cs := wireSegments(client, wireClientPort, wireServerPort)
	ss := wireSegments(server, wireServerPort, wireClientPort)
	packets := []thirdparty.Packet{cs[0], ss[0]}
	for i := 1; i < max(len(cs), len(ss)); i++ {
		if i < len(cs) {
			packets = append(packets, cs[i])
		}
		if i < len(ss) {
			packets = append(packets, ss[i])
		}
	}
	pcap := filepath.Join(t.TempDir(), "wire.pcap")
	if err := thirdparty.WritePcap(pcap, packets); err != nil {
		t.Fatal(err)
	}
	decodeAs := fmt.Sprintf("tcp.port==%d,bittorrent", wireServerPort)
	rep := thirdparty.CheckPcap(t, pcap, decodeAs)
	t.Logf("tshark: %s", rep)
	rep.Expect(t, "bittorrent")
	for _, e := range rep.Experts {
		// The one warning tshark gives on valid input: it prints bencoded byte strings
		// up to their first NUL and flags the rest (our yourip, like libtorrent's).
		if e.Severity == "error" || e.Group != "undecoded" {
			t.Errorf("tshark expert info: frame %d %s/%s: %s", e.Frame, e.Severity, e.Group, e.Message)
		}
	}

	// What tshark read, per direction, must be what we sent.
	for _, dir := range []struct {
		name string
		port int
		msgs []wire.Message
	}{{"client", wireClientPort, clientMsgs}, {"server", wireServerPort, serverMsgs}} {
		t.Run(dir.name, func(t *testing.T) {
			got := wireTsharkFields(t, tshark, pcap, decodeAs, fmt.Sprintf("tcp.srcport==%d", dir.port),
				"bittorrent.peer_id", "bittorrent.msg.length", "bittorrent.msg.type", "bittorrent.piece.index",
				"bittorrent.piece.begin", "bittorrent.piece.length", "bittorrent.port", "bittorrent.extended.id")
			if n := len(got["bittorrent.peer_id"]); n != 1 {
				t.Errorf("tshark saw %d handshakes, want 1", n)
			}
			var lengths, types, indexes, begins, plens, ports, extIDs []uint64
			for _, m := range dir.msgs {
				if m.Type == wire.KeepAlive {
					continue // tshark shows a keep-alive as an empty BitTorrent tree, with no fields
				}
				lengths = append(lengths, uint64(m.Len()))
				types = append(types, uint64(m.Type))
				switch m.Type {
				case wire.Have, wire.Suggest, wire.AllowedFast:
					indexes = append(indexes, uint64(m.Index))
				case wire.Request, wire.Cancel, wire.Reject:
					indexes = append(indexes, uint64(m.Index))
					begins = append(begins, uint64(m.Begin))
					plens = append(plens, uint64(m.Length))
				case wire.Piece:
					indexes = append(indexes, uint64(m.Index))
					begins = append(begins, uint64(m.Begin))
				case wire.Port:
					ports = append(ports, uint64(m.Port))
				case wire.Extended:
					extIDs = append(extIDs, uint64(m.ExtID))
				}
			}
			for field, want := range map[string][]uint64{
				"bittorrent.msg.length": lengths, "bittorrent.msg.type": types, "bittorrent.piece.index": indexes,
				"bittorrent.piece.begin": begins, "bittorrent.piece.length": plens, "bittorrent.port": ports,
				"bittorrent.extended.id": extIDs,
			} {
				if g := wireParseUints(t, got[field]); !slices.Equal(g, want) {
					t.Errorf("%s: tshark read %v, we sent %v", field, g, want)
				}
			}
		})
	}
}

// wireTsharkFields runs tshark on pcap with a display filter and returns every occurrence
// of each field, in frame order.
func wireTsharkFields(t *testing.T, tshark, pcap, decodeAs, filter string, fields ...string) map[string][]string {
	t.Helper()
	args := []string{"-r", pcap, "-n", "-d", decodeAs, "-Y", filter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;", "-E", "separator=\t"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	res := map[string][]string{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		cols := strings.Split(line, "\t")
		for i, f := range fields {
			if i < len(cols) && cols[i] != "" {
				res[f] = append(res[f], strings.Split(cols[i], ";")...)
			}
		}
	}
	return res
}

func wireParseUints(t *testing.T, ss []string) []uint64 {
	t.Helper()
	var out []uint64
	for _, s := range ss {
		n, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("tshark value %q: %v", s, err)
		}
		out = append(out, n)
	}
	return out
}
