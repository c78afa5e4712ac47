package piece

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkPick measures one request round for one peer in a 50-peer swarm: pick 16
// blocks, receive them, verify the pieces they fill. Pieces are 256 KiB (16 blocks).
//
// In the sparse case no peer is a seed and each has 2 % of the pieces, so Pick walks far
// down the rarity order before it finds a piece the peer has: the picker's worst case.
func BenchmarkPick(b *testing.B) {
	for _, sparse := range []bool{false, true} {
		for _, n := range []int{1000, 5000, 20000} {
			benchPick(b, n, sparse)
		}
	}
}

func benchPick(b *testing.B, n int, sparse bool) {
	name := fmt.Sprintf("pieces=%d", n)
	if sparse {
		name += "/sparse"
	}
	{
		b.Run(name, func(b *testing.B) {
			const peers = 50
			l := Layout{NumPieces: n, PieceLength: 16 * BlockSize, TotalLength: int64(n) * 16 * BlockSize}
			build := func() *Picker {
				rng := rand.New(rand.NewPCG(1, 2))
				p := mustPicker(b, l, Config{Seed: 5})
				for k := PeerKey(0); k < peers; k++ {
					p.AddPeer(k)
					if k%10 == 0 && !sparse {
						must(b, p.PeerHaveAll(k))
						continue
					}
					bf := New(n)
					for i := 0; i < n; i++ {
						if sparse && (rng.IntN(50) == 0 || i%peers == int(k)) || !sparse && rng.IntN(2) == 0 {
							bf.Set(i)
						}
					}
					must(b, p.PeerBitfield(k, bf))
				}
				return p
			}
			p := build()
			dst := make([]Block, 0, 16)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if p.Complete() {
					b.StopTimer()
					p = build()
					b.StartTimer()
				}
				k := PeerKey(i % peers)
				dst = p.Pick(k, 16, dst[:0])
				for _, blk := range dst {
					if _, full, err := p.Received(k, blk); err == nil && full {
						p.Verified(int(blk.Piece))
					}
				}
			}
		})
	}
}
