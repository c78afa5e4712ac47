package sim

import (
	"testing"
)

func TestSmallNetwork(t *testing.T) {
	r, err := Run(Params{Nodes: 300, Seed: 1, Torrents: 20, Lookups: 100, Churn: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.Stable.SuccessRate < 0.99 {
		t.Errorf("stable success %.3f < 0.99", r.Stable.SuccessRate)
	}
	if r.Churned.SuccessRate < 0.95 {
		t.Errorf("churned success %.3f < 0.95", r.Churned.SuccessRate)
	}
}

// TestDeterministic: the same seed gives the same run, event for event.
func TestDeterministic(t *testing.T) {
	p := Params{Nodes: 200, Seed: 9, Torrents: 10, Lookups: 50, Churn: 0.2}
	a, err := Run(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(p)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("two runs with one seed differ:\n%v\n%v", a, b)
	}
	p.Seed++
	c, err := Run(p)
	if err != nil {
		t.Fatal(err)
	}
	if c == a {
		t.Fatal("another seed gave the identical run")
	}
}

// TestLossyNetwork: with 5 % of packets lost, lookups still find the peer (a lost
// query is a timeout, and the lookup goes on with other nodes).
func TestLossyNetwork(t *testing.T) {
	r, err := Run(Params{Nodes: 300, Seed: 5, Torrents: 20, Lookups: 100, Loss: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.Stable.SuccessRate < 0.97 {
		t.Errorf("success %.3f with 5 %% loss", r.Stable.SuccessRate)
	}
	if r.Stable.Timeouts == 0 {
		t.Error("no timeouts: loss not simulated")
	}
}
