// Package metrics writes the Prometheus text exposition format (version 0.0.4): metric
// families with HELP and TYPE lines and labelled samples. It holds no registry and no
// state: a caller gathers its figures when scraped and writes them through a Writer, so a
// value is never stale and nothing has to be unregistered when a torrent goes away. The one
// thing a scrape cannot gather after the fact is a distribution, so a Histogram is a value
// its owner keeps and observes into (histogram.go).
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ContentType is the media type of the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Kind is a metric family's TYPE.
type Kind string

// The kinds used here.
const (
	Counter   Kind = "counter"
	Gauge     Kind = "gauge"
	Histogram Kind = "histogram"
)

// Label is one name="value" pair of a sample.
type Label struct{ Name, Value string }

// Sample is one value of a family, told apart from its siblings by its labels. Suffix is
// appended to the family's name: a histogram's samples are name_bucket, name_sum and
// name_count.
type Sample struct {
	Suffix string
	Labels []Label
	Value  float64
}

// Family is one metric: its samples share a name, a help text and a kind. The format
// requires a family's samples to be written together, which a Family makes impossible to
// get wrong.
type Family struct {
	Name    string
	Help    string
	Kind    Kind
	Samples []Sample
}

// Add appends a sample.
func (f *Family) Add(v float64, labels ...Label) {
	f.Samples = append(f.Samples, Sample{Labels: labels, Value: v})
}

// Write writes families in the text format. A family without samples still gets its HELP
// and TYPE lines, so a scraper learns it exists before the first torrent is added.
func Write(w io.Writer, families []*Family) error {
	bw := bufio.NewWriter(w)
	for _, f := range families {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.Name, escapeHelp(f.Help), f.Name, f.Kind)
		for _, s := range f.Samples {
			bw.WriteString(f.Name)
			bw.WriteString(s.Suffix)
			if len(s.Labels) > 0 {
				bw.WriteByte('{')
				for i, l := range s.Labels {
					if i > 0 {
						bw.WriteByte(',')
					}
					bw.WriteString(l.Name)
					bw.WriteString(`="`)
					bw.WriteString(escapeLabel(l.Value))
					bw.WriteByte('"')
				}
				bw.WriteByte('}')
			}
			bw.WriteByte(' ')
			bw.WriteString(formatValue(s.Value))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// formatValue writes integers without an exponent (byte counters reach 1e12 and should read
// as such) and the special values as the format spells them.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }
