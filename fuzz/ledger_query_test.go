package fuzz

import (
	"strings"
	"testing"

	"github.com/speedbt/btt/channel"
	"github.com/speedbt/btt/channel/ledger"
)

// FuzzLedgerQuery feeds arbitrary strings to the ledger's decoders of query values and
// flags: the listing cursor (GET /v1/channels?after=) and a --ledger URL list. Neither may
// panic; a cursor that parses re-encodes to a string that parses to the same cursor, and a
// URL list that parses has 1 to MaxURLs entries, each http(s).
func FuzzLedgerQuery(f *testing.F) {
	f.Add(ledger.Cursor{OpenedAt: 1700000000, ID: channel.ChannelID{1, 2}}.String())
	f.Add("0-" + strings.Repeat("0", 64))
	f.Add("-1-zz")
	f.Add("http://127.0.0.1:7000,https://b:1/")
	f.Add(",,,")
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := ledger.ParseCursor(s); err == nil {
			back, err := ledger.ParseCursor(c.String())
			if err != nil || back != c {
				t.Fatalf("cursor %q -> %+v -> %q -> %+v, %v", s, c, c.String(), back, err)
			}
		}
		if urls, err := ledger.ParseURLs(s); err == nil {
			if len(urls) == 0 || len(urls) > ledger.MaxURLs {
				t.Fatalf("%q: %d URLs", s, len(urls))
			}
			for _, u := range urls {
				if l := strings.ToLower(u); !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
					t.Fatalf("%q: accepted %q", s, u)
				}
			}
			if c := ledger.NewClient(s, nil); len(c.URLs()) != len(urls) {
				t.Fatalf("%q: client uses %d URLs, ParseURLs %d", s, len(c.URLs()), len(urls))
			}
		}
	})
}
