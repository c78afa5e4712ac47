package main

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/wire/tracker"
)

// BenchHash is the info-hash of bench torrent i: SHA-1 of "btt-tracker bench
// <i>", so a test can whitelist them in a tracker that needs it.
func BenchHash(i int) [20]byte {
	return sha1.Sum([]byte("btt-tracker bench " + strconv.Itoa(i)))
}

// runBench is the load generator: workers announce as fast as the tracker
// answers, each as its own peers of the bench torrents, for a fixed time, and
// the announces answered per second are printed as
// "announces/s N (M in D, E errors)".
func runBench(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("btt-tracker bench", flag.ContinueOnError)
	rawURL := fs.String("url", "", "announce URL of the tracker (http:// or udp://)")
	dur := fs.Duration("duration", 5*time.Second, "how long to load the tracker")
	workers := fs.Int("workers", 8, "concurrent announcers")
	torrents := fs.Int("torrents", 16, "bench torrents to spread announces over")
	peers := fs.Int("peers", 1000, "distinct peers each worker pretends to be")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "udp") {
		return fmt.Errorf("--url must be an http:// or udp:// announce URL")
	}
	if *workers < 1 || *torrents < 1 || *peers < 1 {
		return errors.New("--workers, --torrents and --peers must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gen := func(i int) tracker.AnnounceRequest {
				var req tracker.AnnounceRequest
				req.InfoHash = BenchHash(i % *torrents)
				copy(req.PeerID[:], "-BT0001-bench")
				binary.BigEndian.PutUint32(req.PeerID[16:], uint32(w<<20|i%*peers))
				req.Port = uint16(1024 + (w*(*peers)+i%*peers)%60000)
				req.Left = int64(i % 2 * 1000)
				req.NumWant = 50
				req.Key = uint32(w)
				return req
			}
			if u.Scheme == "udp" {
				benchUDP(ctx, u.Host, gen, &ok, &bad)
			} else {
				benchHTTP(ctx, *rawURL, gen, &ok, &bad)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Fprintf(out, "announces/s %.0f (%d in %s, %d errors)\n", float64(ok.Load())/el.Seconds(), ok.Load(), el.Round(time.Millisecond), bad.Load())
	return nil
}

// benchHTTP sends one announce at a time over keep-alive connections, the
// way a client would, but back to back. It builds and decodes the messages
// with the wire codecs rather than the tracker client, so btt-tracker does
// not depend on the client it serves.
func benchHTTP(ctx context.Context, rawURL string, gen func(int) tracker.AnnounceRequest, ok, bad *atomic.Int64) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer hc.CloseIdleConnections()
	prefix := rawURL + "?"
	if strings.Contains(rawURL, "?") {
		prefix = rawURL + "&"
	}
	q := make([]byte, 0, 512)
	for i := 0; ctx.Err() == nil; i++ {
		q = tracker.AppendHTTPQuery(append(q[:0], prefix...), gen(i))
		if err := benchHTTPAnnounce(ctx, hc, string(q)); err != nil {
			if ctx.Err() == nil {
				bad.Add(1)
			}
			continue
		}
		ok.Add(1)
	}
}

func benchHTTPAnnounce(ctx context.Context, hc *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// 64 KiB holds any reply to numwant=50; a longer one is an error here.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	_, err = tracker.DecodeHTTPAnnounce(body)
	return err
}

// benchUDP keeps one socket and one connection id (renewed every 30 s) and
// sends one announce at a time, the way a client would, but back to back.
func benchUDP(ctx context.Context, host string, gen func(int) tracker.AnnounceRequest, ok, bad *atomic.Int64) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "udp", host)
	if err != nil {
		bad.Add(1)
		return
	}
	c := nc.(*net.UDPConn)
	defer c.Close()
	context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	buf := make([]byte, tracker.MaxUDPPacket)
	pkt := make([]byte, 0, 256)
	exchange := func(p []byte) ([]byte, error) {
		if _, err := c.Write(p); err != nil {
			return nil, err
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		return buf[:n], err
	}
	var connID uint64
	var connAt time.Time
	tid := uint32(0)
	for i := 0; ctx.Err() == nil; i++ {
		tid++
		if time.Since(connAt) > 30*time.Second {
			b, err := exchange(tracker.AppendUDPConnect(pkt[:0], tid))
			if err == nil {
				connID, err = tracker.ParseUDPConnectReply(b, tid)
			}
			if err != nil {
				if ctx.Err() == nil {
					bad.Add(1)
				}
				continue
			}
			connAt = time.Now()
			tid++
		}
		b, err := exchange(tracker.AppendUDPAnnounce(pkt[:0], connID, tid, "/announce", gen(i)))
		if err == nil {
			_, err = tracker.ParseUDPAnnounceReply(b, tid, false, false)
		}
		if err != nil {
			if ctx.Err() == nil {
				bad.Add(1)
			}
			continue
		}
		ok.Add(1)
	}
}
