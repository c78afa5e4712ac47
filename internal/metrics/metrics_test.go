package metrics

import (
	"math"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	bytes := &Family{Name: "btt_bytes_total", Help: "Bytes.\nSecond line \\ here.", Kind: Counter}
	bytes.Add(1e12, Label{"torrent", `a"b\c` + "\nd"})
	bytes.Add(0.5)
	empty := &Family{Name: "btt_empty", Help: "None yet.", Kind: Gauge}
	nan := &Family{Name: "btt_odd", Help: "Odd values.", Kind: Gauge}
	nan.Add(math.NaN())
	nan.Add(math.Inf(1))
	nan.Add(math.Inf(-1))
	var sb strings.Builder
	if err := Write(&sb, []*Family{bytes, empty, nan}); err != nil {
		t.Fatal(err)
	}
	want := `# HELP btt_bytes_total Bytes.\nSecond line \\ here.
# TYPE btt_bytes_total counter
btt_bytes_total{torrent="a\"b\\c\nd"} 1000000000000
btt_bytes_total 0.5
# HELP btt_empty None yet.
# TYPE btt_empty gauge
# HELP btt_odd Odd values.
# TYPE btt_odd gauge
btt_odd NaN
btt_odd +Inf
btt_odd -Inf
`
	if sb.String() != want {
		t.Errorf("got\n%s\nwant\n%s", sb.String(), want)
	}
}

func TestHist(t *testing.T) {
	h := NewHist(0.5, 0.1, 1) // unsorted on purpose
	for _, v := range []float64{0.0625, 0.1, 0.25, 2, 0.75} {
		h.Observe(v)
	}
	f := &Family{Name: "btt_call_seconds", Help: "Calls.", Kind: Histogram}
	h.AddTo(f, Label{"kind", "x"})
	var sb strings.Builder
	if err := Write(&sb, []*Family{f}); err != nil {
		t.Fatal(err)
	}
	want := `# HELP btt_call_seconds Calls.
# TYPE btt_call_seconds histogram
btt_call_seconds_bucket{kind="x",le="0.1"} 2
btt_call_seconds_bucket{kind="x",le="0.5"} 3
btt_call_seconds_bucket{kind="x",le="1"} 4
btt_call_seconds_bucket{kind="x",le="+Inf"} 5
btt_call_seconds_sum{kind="x"} 3.1625
btt_call_seconds_count{kind="x"} 5
`
	if sb.String() != want {
		t.Errorf("got\n%s\nwant\n%s", sb.String(), want)
	}
	if h.Count() != 5 {
		t.Errorf("Count = %d", h.Count())
	}
}
