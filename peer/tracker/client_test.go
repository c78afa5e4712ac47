package tracker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	wiretracker "github.com/speedbt/btt/wire/tracker"
)

// Misbehaving HTTP trackers give clear errors, bounded in memory and time.
func TestHTTPTrackerMisbehaving(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		check   func(error) bool
	}{
		{"oversized", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("d8:intervali60e5:peers" + "2000000:"))
			w.Write(make([]byte, 2_000_000))
			w.Write([]byte("e"))
		}, func(err error) bool { return errors.Is(err, wiretracker.ErrMalformed) }},
		{"status", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "500") }},
		{"failure with status", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte("d14:failure reason7:unknowne"))
		}, func(err error) bool {
			var fe *wiretracker.FailureError
			return errors.As(err, &fe) && fe.Reason == "unknown"
		}},
		{"garbage", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html>hello</html>"))
		}, func(err error) bool { return errors.Is(err, wiretracker.ErrMalformed) }},
		{"hang", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			// Only the hanging tracker needs a short deadline; the others must answer
			// whatever the machine's load (the oversized reply is 2 MB, read under -race).
			timeout := 30 * time.Second
			if tc.name == "hang" {
				timeout = 500 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_, err := Announce(ctx, srv.URL+"/announce", wiretracker.AnnounceRequest{Port: 1})
			if !tc.check(err) {
				t.Errorf("got %v", err)
			}
		})
	}
	if _, err := Announce(context.Background(), "wss://x/announce", wiretracker.AnnounceRequest{}); !errors.Is(err, ErrUnsupportedURL) {
		t.Errorf("wss: %v", err)
	}
	// The announce URL's own query (a passkey) is kept.
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RawQuery
		w.Write([]byte("d8:intervali60e5:peers0:e"))
	}))
	defer srv.Close()
	if _, err := Announce(context.Background(), srv.URL+"/announce?passkey=abc", wiretracker.AnnounceRequest{Port: 1}); err != nil || !strings.HasPrefix(got, "passkey=abc&info_hash=") {
		t.Errorf("query %q, %v", got, err)
	}
}
