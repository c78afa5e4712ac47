package fuzz

import (
	"bytes"
	"crypto/sha1"
	"math/bits"
	"os"
	"path/filepath"
	"testing"

	"github.com/speedbt/btt/internal/testutil"
	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/storage"
)

// FuzzPieceBitfield decodes a bitfield payload for n pieces; what decodes must encode
// back to the same bytes, with the count of set bits.
func FuzzPieceBitfield(f *testing.F) {
	v := testutil.Vector(f, "bt/libtorrent-2.0.8/bitfield-partial.bin")
	f.Add(v[5:], uint16(40))
	f.Add(v[5:], uint16(36))
	f.Add([]byte{0xff, 0xc0}, uint16(10))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		bf, err := piece.FromBytes(data, int(n))
		if err != nil {
			return
		}
		if !bytes.Equal(bf.Bytes(), data) {
			t.Fatalf("Bytes %x != input %x", bf.Bytes(), data)
		}
		count := 0
		for _, b := range data {
			count += bits.OnesCount8(b)
		}
		if bf.Count() != count || bf.Len() != int(n) {
			t.Fatalf("count %d want %d", bf.Count(), count)
		}
		again, err := piece.FromBytes(bf.Bytes(), bf.Len())
		if err != nil || again.String() != bf.String() {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzPiecePicker drives a Picker with an event sequence read from the input (as a
// session would feed it from peers' messages) and checks what is visible from outside:
// no panic, every handed-out block is a valid block of a piece the peer has, and outside
// endgame no block is outstanding at two peers.
func FuzzPiecePicker(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add(bytes.Repeat([]byte{0x10, 0x21, 0x32, 0x43}, 40))
	f.Add(bytes.Repeat([]byte{0x05, 0x80, 0x15, 0x90, 0x26}, 60))
	f.Add(bytes.Repeat([]byte{0x02, 0, 0x44, 3, 0x0e, 0x01, 0x0e, 0x81, 0x85, 9}, 30))
	f.Fuzz(func(t *testing.T, ops []byte) {
		l := piece.Layout{NumPieces: 7, PieceLength: 2 * piece.BlockSize, TotalLength: 13*piece.BlockSize + 100}
		p, err := piece.NewPicker(l, piece.Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var dst []piece.Block
		for i := 0; i+1 < len(ops); i += 2 {
			k := piece.PeerKey(ops[i] >> 6) // four peers
			arg := int(ops[i+1])
			switch ops[i] & 0x0f {
			case 0:
				p.AddPeer(k)
			case 1:
				p.PeerHave(k, arg%9-1)
			case 2:
				p.PeerHaveAll(k)
			case 3:
				bf := piece.New(l.NumPieces)
				for j := 0; j < l.NumPieces; j++ {
					if arg&(1<<j) != 0 {
						bf.Set(j)
					}
				}
				p.PeerBitfield(k, bf)
			case 4, 5:
				// Outside endgame a pick never hands out a block outstanding at another peer.
				// (Duplicates made in endgame may outlive it: a released block ends endgame,
				// and the duplicates stay until they arrive or are cancelled.)
				eg := p.Endgame()
				elsewhere := map[piece.Block]bool{}
				for kk := piece.PeerKey(0); kk < 4; kk++ {
					if kk != k {
						for _, b := range p.Outstanding(kk) {
							elsewhere[b] = true
						}
					}
				}
				dst = p.Pick(k, arg%5, dst[:0])
				for _, b := range dst {
					if !l.Valid(b) || !p.PeerHas(k, int(b.Piece)) {
						t.Fatalf("picked %v from peer %d", b, k)
					}
					if !eg && !p.Endgame() && elsewhere[b] {
						t.Fatalf("block %v picked for peer %d while outstanding at another, outside endgame", b, k)
					}
				}
			case 6, 7:
				if out := p.Outstanding(k); len(out) > 0 {
					b := out[arg%len(out)]
					if _, full, err := p.Received(k, b); err == nil && full {
						if arg&1 == 0 {
							p.Verified(int(b.Piece))
						} else {
							p.Failed(int(b.Piece))
						}
					}
				} else {
					p.Received(k, piece.Block{Piece: uint32(arg % 8), Begin: uint32(arg) * 1000, Length: piece.BlockSize})
				}
			case 8:
				if out := p.Outstanding(k); len(out) > 0 {
					p.Release(k, out[arg%len(out)])
				}
			case 9:
				p.PeerChoked(k)
			case 10:
				p.RemovePeer(k)
			case 11:
				p.PeerAllowedFast(k, arg%8)
				dst = p.PickAllowedFast(k, 2, dst[:0])
			case 12:
				p.PeerSuggest(k, arg%8)
			case 13:
				p.SetHave(arg % 8)
			case 14:
				for _, c := range p.SetWanted(arg%8, arg&0x80 != 0) {
					if int(c.Block.Piece) != arg%8 {
						t.Fatalf("cancel %v for piece %d", c, arg%8)
					}
				}
			}
			for kk := piece.PeerKey(0); kk < 4; kk++ {
				for _, b := range p.Outstanding(kk) {
					if !p.Wanted(int(b.Piece)) || p.Have().Has(int(b.Piece)) {
						t.Fatalf("block %v of an unwanted or complete piece outstanding", b)
					}
				}
			}
		}
	})
}

// FuzzStorageResume feeds arbitrary bytes to LoadResume: it must not panic, and a
// rejected file must leave no piece marked. (A file that matches the data files' sizes and
// times is trusted as written: resume data is the client's own state, not peer input.)
func FuzzStorageResume(f *testing.F) {
	content := bytes.Repeat([]byte("speed"), 20000) // 100000 bytes, 4 pieces
	spec := storage.Spec{PieceLength: 32768, Files: []storage.File{{Path: []string{"t", "a"}, Length: 60000}, {Path: []string{"t", "b"}, Length: 40000}}}
	for off := 0; off < len(content); off += 32768 {
		spec.Hashes = append(spec.Hashes, sha1.Sum(content[off:min(off+32768, len(content))]))
	}
	dir := f.TempDir()
	tr, err := storage.Open(dir, spec, storage.Options{})
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 3; i++ { // pieces 0..2 verified, piece 3 missing
		for b := 0; b < 32768; b += storage.BlockSize {
			off := i*32768 + b
			tr.WriteBlockHashed(i, b, content[off:off+storage.BlockSize])
		}
	}
	resume := filepath.Join(dir, "seed.resume")
	if err := tr.SaveResume(resume); err != nil {
		f.Fatal(err)
	}
	tr.Close()
	good, err := os.ReadFile(resume)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(bytes.Replace(good, []byte(`"have":"`), []byte(`"have":"/`), 1))
	f.Add([]byte(`{"version":1,"pieces":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "r")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tr, err := storage.Open(dir, spec, storage.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		ok, err := tr.LoadResume(path)
		if ok {
			return
		}
		if err == nil && len(data) > 0 {
			t.Fatal("rejected resume data without saying why")
		}
		for i, h := range tr.Pieces() {
			if h {
				t.Fatalf("failed load marked piece %d", i)
			}
		}
	})
}
