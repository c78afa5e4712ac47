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
