package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/speedbt/btt/internal/testutil"
)

func TestMetadataVectors(t *testing.T) {
	const dir = "bt/libtorrent-2.0.8/"
	tests := []struct {
		name string
		want MetadataMessage // Data checked separately
	}{
		{"ext-ut_metadata-request", MetadataMessage{Type: MetadataRequest, Piece: 0}},
		{"ext-ut_metadata-data", MetadataMessage{Type: MetadataData, Piece: 0, TotalSize: 1008}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := testutil.Vector(t, dir+tt.name+".bin")
			dict := testutil.Vector(t, dir+tt.name+".bencode")
			m, n, err := ParseMessage(raw, DefaultMaxMessageLen)
			if err != nil || n != len(raw) || m.Type != Extended || m.ExtID != 2 {
				t.Fatalf("ParseMessage = %v ext %d, %v", m.Type, m.ExtID, err)
			}
			md, err := ParseMetadataMessage(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(md.Data, m.Payload[len(dict):]) {
				t.Errorf("data is %d bytes, want the %d after the dict", len(md.Data), len(m.Payload)-len(dict))
			}
			want := tt.want
			want.Data = md.Data
			if diff := cmp.Diff(want, md); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if enc := AppendMetadataMessage(nil, md); !bytes.Equal(enc, m.Payload) {
				t.Errorf("re-encoded %q, want %q", enc[:min(len(enc), 60)], m.Payload[:min(len(m.Payload), 60)])
			}
		})
	}
}

func TestMetadataPieceSizes(t *testing.T) {
	tests := []struct {
		total, piece, want int
		ok                 bool
	}{
		{1008, 0, 1008, true},
		{1008, 1, 0, false},
		{16384, 0, 16384, true},
		{16384, 1, 0, false},
		{16385, 1, 1, true},
		{40000, 2, 40000 - 32768, true},
		{0, 0, 0, false},
		{100, -1, 0, false},
	}
	for _, tt := range tests {
		if got, ok := MetadataPieceSize(tt.total, tt.piece); got != tt.want || ok != tt.ok {
			t.Errorf("MetadataPieceSize(%d, %d) = %d, %v; want %d, %v", tt.total, tt.piece, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	full := bytes.Repeat([]byte{'x'}, MetadataPieceLen)
	for _, m := range []MetadataMessage{
		{Type: MetadataRequest, Piece: 3},
		{Type: MetadataReject, Piece: 1},
		{Type: MetadataData, Piece: 0, TotalSize: 20000, Data: full},
		{Type: MetadataData, Piece: 1, TotalSize: 20000, Data: full[:20000-MetadataPieceLen]},
		{Type: 7, Piece: 0, Data: []byte("future")},
	} {
		got, err := ParseMetadataMessage(AppendMetadataMessage(nil, m))
		if err != nil {
			t.Errorf("%v: %v", m.Type, err)
			continue
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("%v (-sent +got):\n%s", m.Type, diff)
		}
	}
}

func TestMetadataErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"not a dict", "i1e"},
		{"no msg_type", "d5:piecei0ee"},
		{"no piece", "d8:msg_typei0ee"},
		{"negative piece", "d8:msg_typei0e5:piecei-1ee"},
		{"huge piece", "d8:msg_typei0e5:piecei99999999ee"},
		{"request with trailing", "d8:msg_typei0e5:piecei0eexx"},
		{"data without total_size", "d8:msg_typei1e5:piecei0eexx"},
		{"data too short", "d8:msg_typei1e5:piecei0e10:total_sizei10eexx"},
		{"data too long", "d8:msg_typei1e5:piecei0e10:total_sizei1eexx"},
		{"data past the end", "d8:msg_typei1e5:piecei1e10:total_sizei10ee0123456789"},
		{"total_size too big", "d8:msg_typei1e5:piecei0e10:total_sizei999999999eex"},
		{"full piece short", "d8:msg_typei1e5:piecei0e10:total_sizei20000ee" + strings.Repeat("x", 100)},
		{"msg_type string", "d8:msg_type1:05:piecei0ee"},
	}
	for _, tt := range tests {
		if _, err := ParseMetadataMessage([]byte(tt.in)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%s: %v, want ErrBadPayload", tt.name, err)
		}
	}
}
