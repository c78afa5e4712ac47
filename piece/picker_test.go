package piece

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// check verifies the picker's internal invariants; tests call it after every step.
func (p *Picker) check() error {
	n := p.layout.NumPieces
	end := int(p.bstart[len(p.bstart)-1])
	if end != n-p.done.Count() {
		return fmt.Errorf("want region %d, done %d of %d", end, p.done.Count(), n)
	}
	for i := 0; i < n; i++ {
		if p.done.Has(i) != (p.have.Has(i) || p.skip.Has(i)) {
			return fmt.Errorf("piece %d: done %v have %v skip %v", i, p.done.Has(i), p.have.Has(i), p.skip.Has(i))
		}
		if p.skip.Has(i) && p.act[i] >= 0 {
			return fmt.Errorf("unwanted piece %d is active", i)
		}
	}
	for i := 0; i < n; i++ {
		if p.order[p.pos[i]] != int32(i) {
			return fmt.Errorf("pos/order mismatch at piece %d", i)
		}
		if inWant := int(p.pos[i]) < end; inWant == p.done.Has(i) {
			return fmt.Errorf("piece %d done=%v at position %d (end %d)", i, p.done.Has(i), p.pos[i], end)
		}
	}
	for k := 0; k+1 < len(p.bstart); k++ {
		for x := p.bstart[k]; x < p.bstart[k+1]; x++ {
			if a := p.avail[p.order[x]]; a != int32(k) {
				return fmt.Errorf("piece %d avail %d in bucket %d", p.order[x], a, k)
			}
		}
	}
	// availability equals the count of non-seed peers announcing each piece
	want := make([]int32, n)
	seeds := 0
	for _, ps := range p.peers {
		if ps.seed {
			seeds++
			continue
		}
		for i := 0; i < n; i++ {
			if ps.has.Has(i) {
				want[i]++
			}
		}
	}
	if seeds != p.seeds || !slices.Equal(want, p.avail) {
		return fmt.Errorf("availability drift: seeds %d/%d", seeds, p.seeds)
	}
	// every outstanding request is recorded on its block and vice versa
	refs := map[Block][]PeerKey{}
	for k, ps := range p.peers {
		for _, b := range ps.outstanding {
			refs[b] = append(refs[b], k)
		}
	}
	free, unstarted := 0, 0
	for i := 0; i < n; i++ {
		if !p.done.Has(i) && p.act[i] < 0 {
			unstarted++
		}
	}
	for ai, ap := range p.actives {
		if p.act[ap.index] != int32(ai) {
			return fmt.Errorf("act index of piece %d", ap.index)
		}
		f, r := 0, 0
		for bi, b := range ap.blocks {
			blk := p.layout.Block(int(ap.index), bi)
			got := refs[blk]
			delete(refs, blk)
			switch b.state {
			case blockFree:
				f++
				if len(got) != 0 {
					return fmt.Errorf("free block %v outstanding at %v", blk, got)
				}
			case blockReceived:
				r++
				if len(got) != 0 {
					return fmt.Errorf("received block %v outstanding at %v", blk, got)
				}
			case blockRequested:
				wantPeers := append([]PeerKey{b.owner}, b.extra...)
				slices.Sort(wantPeers)
				slices.Sort(got)
				if !slices.Equal(got, wantPeers) {
					return fmt.Errorf("block %v requesters %v, outstanding at %v", blk, wantPeers, got)
				}
			}
		}
		if f != ap.free || r != ap.received {
			return fmt.Errorf("piece %d counters free %d/%d received %d/%d", ap.index, f, ap.free, r, ap.received)
		}
		free += f
	}
	if len(refs) != 0 {
		return fmt.Errorf("outstanding blocks of no active piece: %v", refs)
	}
	if free != p.freeBlocks || unstarted != p.unstarted {
		return fmt.Errorf("freeBlocks %d/%d unstarted %d/%d", free, p.freeBlocks, unstarted, p.unstarted)
	}
	return nil
}

func mustPicker(t testing.TB, l Layout, cfg Config) *Picker {
	t.Helper()
	p, err := NewPicker(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func bitfieldOf(n int, pieces ...int) Bitfield {
	bf := New(n)
	for _, i := range pieces {
		bf.Set(i)
	}
	return bf
}

func TestRarestFirst(t *testing.T) {
	// 6 one-block pieces; piece 4 is held by one peer, piece 1 by two, the rest by three.
	l := Layout{NumPieces: 6, PieceLength: BlockSize, TotalLength: 6 * BlockSize}
	for seed := uint64(1); seed <= 20; seed++ {
		p := mustPicker(t, l, Config{RandomFirst: -1, Seed: seed})
		p.AddPeer(1)
		p.AddPeer(2)
		p.AddPeer(3)
		must(t, p.PeerBitfield(1, bitfieldOf(6, 0, 1, 2, 3, 4, 5)))
		must(t, p.PeerBitfield(2, bitfieldOf(6, 0, 1, 2, 3, 5)))
		must(t, p.PeerBitfield(3, bitfieldOf(6, 0, 2, 3, 5)))
		got := p.Pick(1, 2, nil)
		if len(got) != 2 || got[0].Piece != 4 || got[1].Piece != 1 {
			t.Fatalf("seed %d: picked %v, want piece 4 then 1", seed, got)
		}
		if err := p.check(); err != nil {
			t.Fatal(err)
		}
		// a new seed does not change the order; losing peer 3 makes 0,2,3,5 as rare as 1
		p.AddPeer(4)
		must(t, p.PeerHaveAll(4))
		if p.Availability(4) != 2 || p.Availability(0) != 4 {
			t.Fatalf("availability %d %d", p.Availability(4), p.Availability(0))
		}
		p.RemovePeer(3)
		if err := p.check(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRandomTieBreak(t *testing.T) {
	l := Layout{NumPieces: 8, PieceLength: BlockSize, TotalLength: 8 * BlockSize}
	seen := map[uint32]bool{}
	for seed := uint64(1); seed <= 64; seed++ {
		p := mustPicker(t, l, Config{RandomFirst: -1, Seed: seed})
		p.AddPeer(1)
		must(t, p.PeerHaveAll(1))
		seen[p.Pick(1, 1, nil)[0].Piece] = true
	}
	if len(seen) < 6 {
		t.Fatalf("equally rare pieces not chosen at random: only %v", seen)
	}
}

func TestPartialFirstAndRandomFirst(t *testing.T) {
	l := Layout{NumPieces: 100, PieceLength: 4 * BlockSize, TotalLength: 100 * 4 * BlockSize}
	p := mustPicker(t, l, Config{Seed: 7}) // random first on
	p.AddPeer(1)
	p.AddPeer(2)
	must(t, p.PeerHaveAll(1))
	must(t, p.PeerHaveAll(2))
	a := p.Pick(1, 2, nil)
	b := p.Pick(2, 3, nil)
	if a[0].Piece != a[1].Piece || b[0].Piece != a[0].Piece || b[1].Piece != a[0].Piece {
		t.Fatalf("second peer did not finish the partial piece first: %v %v", a, b)
	}
	if b[2].Piece == a[0].Piece {
		t.Fatalf("piece has only 4 blocks: %v", b)
	}
	if err := p.check(); err != nil {
		t.Fatal(err)
	}
}

func TestPickNeverTwiceOutsideEndgame(t *testing.T) {
	l := Layout{NumPieces: 10, PieceLength: 2 * BlockSize, TotalLength: 19 * BlockSize}
	p := mustPicker(t, l, Config{Seed: 3})
	for k := PeerKey(1); k <= 3; k++ {
		p.AddPeer(k)
		must(t, p.PeerHaveAll(k))
	}
	seen := map[Block]bool{}
	for round := 0; round < 10; round++ {
		for k := PeerKey(1); k <= 3; k++ {
			eg := p.Endgame()
			for _, b := range p.Pick(k, 1, nil) {
				if seen[b] && !eg {
					t.Fatalf("block %v handed out twice before endgame", b)
				}
				seen[b] = true
			}
		}
	}
	if len(seen) != 19 || !p.Endgame() {
		t.Fatalf("%d blocks handed out, endgame %v", len(seen), p.Endgame())
	}
	last := l.Block(9, 0)
	if last.Length != BlockSize || !seen[last] {
		t.Fatalf("short last piece wrong: %v", last)
	}
}

func TestEndgameCancels(t *testing.T) {
	l := Layout{NumPieces: 1, PieceLength: 2 * BlockSize, TotalLength: 2 * BlockSize}
	p := mustPicker(t, l, Config{Seed: 1})
	for k := PeerKey(1); k <= 3; k++ {
		p.AddPeer(k)
		must(t, p.PeerHaveAll(k))
	}
	a := p.Pick(1, 10, nil)
	if len(a) != 2 || !p.Endgame() {
		t.Fatalf("pick %v endgame %v", a, p.Endgame())
	}
	b := p.Pick(2, 10, nil)
	c := p.Pick(3, 1, nil)
	if len(b) != 2 || len(c) != 1 {
		t.Fatalf("endgame duplicates: %v %v", b, c)
	}
	if again := p.Pick(2, 10, nil); len(again) != 0 {
		t.Fatalf("same block twice to one peer: %v", again)
	}
	must(t, p.check())
	cancel, full, err := p.Received(2, a[0])
	if err != nil || full {
		t.Fatal(err, full)
	}
	slices.Sort(cancel)
	if !slices.Equal(cancel, []PeerKey{1, 3}) {
		t.Fatalf("cancel %v, want [1 3]", cancel)
	}
	if _, _, err := p.Received(1, a[0]); !errors.Is(err, ErrNotWanted) {
		t.Fatalf("late duplicate: %v", err)
	}
	p.Release(1, a[1]) // peer 1 rejects; peer 2 still has it
	cancel, full, err = p.Received(2, a[1])
	if err != nil || !full || len(cancel) != 0 {
		t.Fatalf("cancel %v full %v err %v", cancel, full, err)
	}
	must(t, p.check())
	p.Verified(0)
	if !p.Complete() || p.Endgame() {
		t.Fatal("not complete")
	}
	must(t, p.check())
}

func TestEndgameRequestersCapped(t *testing.T) {
	l := Layout{NumPieces: 1, PieceLength: BlockSize, TotalLength: BlockSize}
	p := mustPicker(t, l, Config{Seed: 1, EndgameRequesters: 3})
	got := 0
	for k := PeerKey(1); k <= 6; k++ {
		p.AddPeer(k)
		must(t, p.PeerHaveAll(k))
		got += len(p.Pick(k, 4, nil))
	}
	if got != 3 {
		t.Fatalf("the only block was requested %d times, want 3", got)
	}
	must(t, p.check())
}

func TestSetWanted(t *testing.T) {
	l := Layout{NumPieces: 4, PieceLength: 2 * BlockSize, TotalLength: 8 * BlockSize}
	p := mustPicker(t, l, Config{Seed: 1, RandomFirst: -1})
	p.AddPeer(1)
	p.AddPeer(2)
	must(t, p.PeerBitfield(1, bitfieldOf(4, 0, 1)))
	must(t, p.PeerBitfield(2, bitfieldOf(4, 0, 1)))
	for _, i := range []int{1, 2, 3} {
		p.SetWanted(i, false)
	}
	got := p.Pick(1, 10, nil)
	if len(got) != 2 || got[0].Piece != 0 || got[1].Piece != 0 {
		t.Fatalf("picked %v, only piece 0 is wanted", got)
	}
	// every wanted block is requested: endgame, which ignores unwanted pieces
	if dup := p.Pick(2, 1, nil); len(dup) != 1 || !p.Endgame() {
		t.Fatalf("endgame duplicate %v", dup)
	}
	// unwanting a piece in progress returns its requests to cancel
	cancel := p.SetWanted(0, false)
	if len(cancel) != 3 {
		t.Fatalf("cancel %v, want 3 requests", cancel)
	}
	if len(p.Outstanding(1)) != 0 || len(p.Outstanding(2)) != 0 || p.Interesting(1) {
		t.Fatal("unwanted piece still requested or interesting")
	}
	if _, _, err := p.Received(1, got[0]); !errors.Is(err, ErrNotWanted) {
		t.Fatalf("block of unwanted piece: %v", err)
	}
	if !p.Complete() || p.Endgame() {
		t.Fatal("nothing wanted left, yet not complete")
	}
	must(t, p.check())
	p.SetWanted(1, true)
	if p.Complete() || !p.Interesting(1) {
		t.Fatal("re-wanted piece not wanted")
	}
	if got := p.Pick(1, 10, nil); len(got) != 2 || got[0].Piece != 1 {
		t.Fatalf("re-wanted piece not picked: %v", got)
	}
	must(t, p.check())
	p.SetHave(3) // a have for an unwanted piece is kept
	if !p.Have().Has(3) {
		t.Fatal("SetHave of unwanted piece lost")
	}
	must(t, p.check())
}

func TestFailedRefetchesAndBlames(t *testing.T) {
	l := Layout{NumPieces: 2, PieceLength: 2 * BlockSize, TotalLength: 4 * BlockSize}
	p := mustPicker(t, l, Config{Seed: 1, RandomFirst: -1})
	p.AddPeer(1)
	p.AddPeer(2)
	must(t, p.PeerBitfield(1, bitfieldOf(2, 0)))
	must(t, p.PeerBitfield(2, bitfieldOf(2, 0)))
	x := p.Pick(1, 1, nil)
	y := p.Pick(2, 1, nil)
	p.Received(1, x[0])
	_, full, _ := p.Received(2, y[0])
	if !full {
		t.Fatal("piece not full")
	}
	by := p.Failed(0)
	if by[x[0].Begin/BlockSize] != 1 || by[y[0].Begin/BlockSize] != 2 {
		t.Fatalf("by block %v", by)
	}
	must(t, p.check())
	if got := p.Pick(1, 5, nil); len(got) != 2 || got[0].Piece != 0 {
		t.Fatalf("failed piece not re-fetched whole: %v", got)
	}
	var bl Blame[PeerKey]
	bl.Limit = 2
	if bl.Strike(1) || !bl.Strike(1) || bl.Strikes(1) != 2 {
		t.Fatal("blame limit")
	}
	bl.Forget(1)
	if bl.Strikes(1) != 0 {
		t.Fatal("forget")
	}
}

func TestChokeAndAllowedFast(t *testing.T) {
	l := Layout{NumPieces: 4, PieceLength: 2 * BlockSize, TotalLength: 8 * BlockSize}
	p := mustPicker(t, l, Config{Seed: 1, RandomFirst: -1})
	p.AddPeer(1)
	must(t, p.PeerBitfield(1, bitfieldOf(4, 1, 2)))
	if !p.Interesting(1) {
		t.Fatal("peer with pieces we lack is interesting")
	}
	if got := p.PickAllowedFast(1, 4, nil); len(got) != 0 {
		t.Fatalf("allowed-fast without any: %v", got)
	}
	p.PeerAllowedFast(1, 3) // peer lacks it
	p.PeerAllowedFast(1, 2)
	got := p.PickAllowedFast(1, 4, nil)
	if len(got) != 2 || got[0].Piece != 2 || got[1].Piece != 2 {
		t.Fatalf("allowed fast picked %v", got)
	}
	more := p.Pick(1, 4, nil)
	if len(more) != 2 || more[0].Piece != 1 {
		t.Fatalf("after unchoke picked %v", more)
	}
	p.PeerChoked(1)
	if len(p.Outstanding(1)) != 0 {
		t.Fatal("choke left requests outstanding")
	}
	must(t, p.check())
	if again := p.Pick(1, 8, nil); len(again) != 4 {
		t.Fatalf("released blocks not picked again: %v", again)
	}
	p.PeerSuggest(1, 1)
	if _, _, err := p.Received(1, Block{0, 1, 5}); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("off-grid block: %v", err)
	}
	if _, _, err := p.Received(1, l.Block(0, 0)); !errors.Is(err, ErrNotWanted) {
		t.Fatalf("block of unstarted piece: %v", err)
	}
	if err := p.PeerHave(1, 4); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("have out of range: %v", err)
	}
	if _, _, err := p.Received(9, l.Block(1, 0)); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("block from unknown peer: %v", err)
	}
	if err := p.PeerHave(9, 0); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("unknown peer: %v", err)
	}
}

func TestSuggestPreferred(t *testing.T) {
	l := Layout{NumPieces: 50, PieceLength: BlockSize, TotalLength: 50 * BlockSize}
	p := mustPicker(t, l, Config{Seed: 9, RandomFirst: -1})
	p.AddPeer(1)
	must(t, p.PeerHaveAll(1))
	p.PeerSuggest(1, 37)
	if got := p.Pick(1, 1, nil); got[0].Piece != 37 {
		t.Fatalf("suggested piece not preferred: %v", got)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSwarmProperty drives a picker with random events from a seeded RNG and checks
// the invariants after each one, and that the download always completes.
func TestSwarmProperty(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { swarm(t, seed) })
	}
}

func swarm(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := 5 + rng.IntN(40)
	plen := int64(BlockSize * (1 + rng.IntN(4)))
	total := plen*int64(n-1) + 1 + rng.Int64N(plen)
	l := Layout{NumPieces: n, PieceLength: plen, TotalLength: total}
	p := mustPicker(t, l, Config{Seed: seed})
	const peers = 6
	bfs := make([]Bitfield, peers+1)
	for k := 1; k <= peers; k++ {
		bfs[k] = New(n)
		for i := 0; i < n; i++ {
			if rng.IntN(3) == 0 || i%peers == k-1 { // every piece is somewhere
				bfs[k].Set(i)
			}
		}
	}
	connected := map[PeerKey]bool{}
	connect := func(k PeerKey) {
		p.AddPeer(k)
		connected[k] = true
		if rng.IntN(2) == 0 {
			must(t, p.PeerBitfield(k, bfs[k].Clone()))
			return
		}
		for i := 0; i < n; i++ {
			if bfs[k].Has(i) {
				must(t, p.PeerHave(k, i))
			}
		}
	}
	for k := PeerKey(1); k <= peers; k++ {
		connect(k)
	}
	inflight := map[PeerKey][]Block{}
	full := map[int]bool{}
	endgameSeen := false
	for step := 0; step < 200000 && !p.Complete(); step++ {
		k := PeerKey(1 + rng.IntN(peers))
		if !connected[k] {
			connect(k)
			continue
		}
		switch r := rng.IntN(100); {
		case r < 40:
			eg := p.Endgame()
			got := p.Pick(k, 1+rng.IntN(8), nil)
			for _, b := range got {
				if !bfs[k].Has(int(b.Piece)) {
					t.Fatalf("picked %v from peer %d that lacks it", b, k)
				}
				if !eg && !p.Endgame() {
					for k2, bl := range inflight {
						if k2 != k && slices.Contains(bl, b) {
							t.Fatalf("block %v outstanding at %d and %d outside endgame", b, k, k2)
						}
					}
				}
			}
			endgameSeen = endgameSeen || p.Endgame()
			inflight[k] = append(inflight[k], got...)
		case r < 85:
			if len(inflight[k]) == 0 {
				continue
			}
			j := rng.IntN(len(inflight[k]))
			b := inflight[k][j]
			inflight[k] = slices.Delete(inflight[k], j, j+1)
			cancel, isFull, err := p.Received(k, b)
			if err != nil && !errors.Is(err, ErrNotWanted) {
				t.Fatal(err)
			}
			for _, c := range cancel {
				inflight[c] = slices.DeleteFunc(inflight[c], func(x Block) bool { return x == b })
			}
			if isFull {
				if full[int(b.Piece)] {
					t.Fatalf("piece %d full twice", b.Piece)
				}
				if rng.IntN(10) == 0 {
					p.Failed(int(b.Piece))
				} else {
					full[int(b.Piece)] = true
					p.Verified(int(b.Piece))
				}
			}
		case r < 90:
			if len(inflight[k]) > 0 {
				j := rng.IntN(len(inflight[k]))
				p.Release(k, inflight[k][j])
				inflight[k] = slices.Delete(inflight[k], j, j+1)
			}
		case r < 94:
			p.PeerChoked(k)
			inflight[k] = nil
		case r < 97:
			p.RemovePeer(k)
			connected[k] = false
			inflight[k] = nil
		case r < 98:
			p.PeerAllowedFast(k, rng.IntN(n))
			inflight[k] = append(inflight[k], p.PickAllowedFast(k, 2, nil)...)
		default:
			// selective download: toggle a piece's wanted state early on
			if step > 3000 {
				continue
			}
			i := rng.IntN(n)
			for _, c := range p.SetWanted(i, !p.Wanted(i)) {
				if int(c.Block.Piece) != i {
					t.Fatalf("cancel %v for piece %d", c, i)
				}
				inflight[c.Peer] = slices.DeleteFunc(inflight[c.Peer], func(x Block) bool { return x == c.Block })
			}
		}
		if step == 3000 {
			for i := 0; i < n; i++ {
				p.SetWanted(i, true)
			}
		}
		for _, bl := range inflight {
			for _, b := range bl {
				if !p.Wanted(int(b.Piece)) {
					t.Fatalf("step %d: block %v of an unwanted piece outstanding", step, b)
				}
			}
		}
		if err := p.check(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		// the test's view of who holds what must agree with the picker's
		for kk, bl := range inflight {
			got := slices.Clone(p.Outstanding(kk))
			want := slices.Clone(bl)
			cmp := func(a, b Block) int { return int(a.Piece)*1e7 + int(a.Begin) - int(b.Piece)*1e7 - int(b.Begin) }
			slices.SortFunc(got, cmp)
			slices.SortFunc(want, cmp)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: peer %d outstanding %v, test thinks %v", step, kk, got, want)
			}
		}
	}
	if !p.Complete() {
		t.Fatalf("download did not complete: have %d of %d", p.Have().Count(), n)
	}
	if !endgameSeen {
		t.Logf("seed %d: never in endgame", seed)
	}
}
