package sim

import (
	"testing"
)

// TestFiveThousandNodes is the acceptance run of the simulator: 5,000 nodes, get_peers
// finds the announced peer in at least 99 % of lookups, and in at least 95 % with 20 % of
// the nodes offline and churning. Under -short, or with the race detector (which finds
// nothing in the one-goroutine simulator but makes it four times slower), it runs with
// 1,000 nodes; run `go test -run TestFiveThousandNodes ./dht/sim` for the full size.
func TestFiveThousandNodes(t *testing.T) {
	p := Params{Nodes: 5000, Seed: 42, Torrents: 100, Lookups: 1000, Churn: 0.2}
	if testing.Short() || raceEnabled {
		p.Nodes, p.Lookups, p.Torrents = 1000, 300, 50
		t.Logf("reduced to %d nodes (short or race)", p.Nodes)
	}
	r, err := Run(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.Announced != p.Torrents {
		t.Errorf("announced %d of %d torrents", r.Announced, p.Torrents)
	}
	if r.Stable.SuccessRate < 0.99 {
		t.Errorf("stable success %.4f < 0.99", r.Stable.SuccessRate)
	}
	if r.Churned.SuccessRate < 0.95 {
		t.Errorf("churned success %.4f < 0.95", r.Churned.SuccessRate)
	}
	if r.Stable.MeanHops > r.Log2N {
		t.Errorf("mean hops %.2f above log2(N) = %.2f", r.Stable.MeanHops, r.Log2N)
	}
}
