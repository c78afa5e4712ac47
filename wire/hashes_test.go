package wire

import (
	"errors"
	"testing"
)

func TestHashRequestRoundTrip(t *testing.T) {
	r := HashReq{PiecesRoot: [32]byte{1, 2, 3}, BaseLayer: 2, Index: 512, Length: 512, ProofLayers: 10}
	for _, typ := range []MessageType{HashRequest, HashReject} {
		m := HashRequestMessage(typ, r)
		enc := AppendMessage(nil, m)
		if len(enc) != 4+1+48 {
			t.Fatalf("%v: %d bytes, want 53", typ, len(enc))
		}
		got, _, err := ParseMessage(enc, DefaultMaxMessageLen)
		if err != nil || got.Type != typ {
			t.Fatalf("%v: parsed %v, %v", typ, got.Type, err)
		}
		back, err := ParseHashRequest(got.Payload)
		if err != nil || back != r {
			t.Fatalf("%v: got %+v, %v; want %+v", typ, back, err, r)
		}
	}
}

func TestHashesRoundTrip(t *testing.T) {
	r := HashReq{PiecesRoot: [32]byte{9}, BaseLayer: 0, Index: 4, Length: 4, ProofLayers: 4}
	// 4 base hashes span 2 layers: uncles at proof layers 2, 3 and 4.
	if r.UncleCount() != 3 {
		t.Fatalf("UncleCount %d, want 3", r.UncleCount())
	}
	hs := make([][32]byte, 7)
	for i := range hs {
		hs[i][0] = byte(i + 1)
	}
	m := HashesMessage(r, hs)
	enc := AppendMessage(nil, m)
	got, _, err := ParseMessage(enc, DefaultMaxMessageLen)
	if err != nil || got.Type != Hashes {
		t.Fatalf("parsed %v, %v", got.Type, err)
	}
	br, bh, err := ParseHashes(got.Payload)
	if err != nil || br != r || len(bh) != 7 || bh[6][0] != 7 {
		t.Fatalf("got %+v %d hashes, %v", br, len(bh), err)
	}
}

func TestUncleCount(t *testing.T) {
	for _, tc := range []struct {
		length, proof uint32
		want          int
	}{
		{1, 0, 1}, {1, 3, 4}, {2, 0, 0}, {2, 1, 1}, {2, 3, 3}, {3, 3, 2}, {4, 1, 0}, {4, 2, 1}, {512, 9, 1}, {512, 12, 4},
	} {
		if got := (HashReq{Length: tc.length, ProofLayers: tc.proof}).UncleCount(); got != tc.want {
			t.Errorf("length %d proof %d: %d uncles, want %d", tc.length, tc.proof, got, tc.want)
		}
	}
}

func TestHashMessagesRejectBadInput(t *testing.T) {
	ok := HashReq{Length: 2, ProofLayers: 1}
	good := HashRequestMessage(HashRequest, ok).Payload
	for _, tc := range []struct {
		name    string
		payload []byte
		want    error
	}{
		{"short", good[:47], ErrBadLength},
		{"long", append(good[:48:48], 0), ErrBadLength},
		{"zero length", HashRequestMessage(HashRequest, HashReq{}).Payload, ErrBadPayload},
		{"huge length", HashRequestMessage(HashRequest, HashReq{Length: MaxHashCount + 1}).Payload, ErrBadPayload},
		{"base layer", HashRequestMessage(HashRequest, HashReq{Length: 2, BaseLayer: 32}).Payload, ErrBadPayload},
		{"proof layers", HashRequestMessage(HashRequest, HashReq{Length: 2, ProofLayers: 33}).Payload, ErrBadPayload},
	} {
		if _, err := ParseHashRequest(tc.payload); !errors.Is(err, tc.want) {
			t.Errorf("%s: request error %v, want %v", tc.name, err, tc.want)
		}
	}
	hs := HashesMessage(ok, make([][32]byte, 2+ok.UncleCount())).Payload
	for _, tc := range []struct {
		name    string
		payload []byte
		want    error
	}{
		{"head cut", hs[:40], ErrBadLength},
		{"hash missing", hs[:len(hs)-32], ErrBadLength},
		{"hash extra", append(hs[:len(hs):len(hs)], make([]byte, 32)...), ErrBadLength},
		{"ragged", hs[:len(hs)-1], ErrBadLength},
		{"bad head", HashesMessage(HashReq{}, nil).Payload, ErrBadPayload},
	} {
		if _, _, err := ParseHashes(tc.payload); !errors.Is(err, tc.want) {
			t.Errorf("%s: hashes error %v, want %v", tc.name, err, tc.want)
		}
	}
}
