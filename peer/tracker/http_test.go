package tracker

import "testing"

func TestScrapeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://t.example/announce":           "http://t.example/scrape",
		"http://t.example/x/announce.php?k=1": "http://t.example/x/scrape.php?k=1",
		"http://t.example/a":                  "",
		"http://t.example/announce/x":         "",
	} {
		got, err := ScrapeURL(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ScrapeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
