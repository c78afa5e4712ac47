package sim

import (
	"fmt"
	"testing"
)

// BenchmarkLookupScaling reports, per network size, the hops and messages of a
// get_peers lookup and its virtual latency, beside log2(N). One iteration is a whole
// simulated network; run with -benchtime 1x.
func BenchmarkLookupScaling(b *testing.B) {
	for _, n := range []int{250, 500, 1000, 2000, 5000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var r Report
			for b.Loop() {
				var err error
				r, err = Run(Params{Nodes: n, Seed: 1, Torrents: 50, Lookups: 500})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(r.Log2N, "log2N")
			b.ReportMetric(r.Stable.MeanHops, "hops")
			b.ReportMetric(r.Stable.MeanQueries, "msgs/lookup")
			b.ReportMetric(r.Stable.MeanFirstQueries, "msgs-to-peer")
			b.ReportMetric(float64(r.Stable.P50Latency.Milliseconds()), "p50-virtual-ms")
			b.ReportMetric(100*r.Stable.SuccessRate, "found-%")
			b.ReportMetric(r.MeanTableSize, "table-nodes")
		})
	}
}
